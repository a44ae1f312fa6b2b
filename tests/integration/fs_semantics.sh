#!/usr/bin/env bash
# fs_semantics: POSIX behaviour of a child branch (no postgres): truncate+extend
# reads zeros, unlink+recreate, rename over a name, hard links, symlinks, holes,
# O_EXCL; the parent stays byte-identical after each step; owner/mode of files
# created by a non-root user.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools

strata_init
start_daemon
if [[ "$STRATA_NATIVE" == 1 ]]; then
  mkdir -p "$MNT/root"
else
  strata branch create root >/dev/null || fail "branch create root failed"
fi
P=$MNT/root
C=$MNT/child
# A new root branch's top directory is 0700 like a fresh PGDATA; the
# non-root checks below need to traverse it.
chmod 755 "$P"

# Parent content: random data, several pages, a small file, a nested dir, a hole.
head -c $((3 * 1024 * 1024 + 123)) /dev/urandom >"$P/big"
echo "old content of f2" >"$P/f2"
mkdir -p "$P/dir/sub"
echo "f3 in dir" >"$P/dir/f3"
head -c 20000 /dev/urandom >"$P/dir/sub/f4"
truncate -s 1M "$P/holey"
printf 'tail' | dd of="$P/holey" bs=1 seek=$((1024 * 1024 - 4)) conv=notrunc status=none
ln -s dir/f3 "$P/link"
mkdir -p "$P/pgdir"
chown postgres: "$P/pgdir"
sync

PARENT_DIGEST=$ROOT/parent.digest
tree_digest "$P" >"$PARENT_DIGEST"

parent_unchanged() {
  if ! diff -u "$PARENT_DIGEST" <(tree_digest "$P") >&2; then
    fail "parent branch changed after: $1"
  fi
  ok "parent byte-identical after: $1"
}

check "snapshot root s1 + branch child --from root@s1: child == parent"
if [[ "$STRATA_NATIVE" == 1 ]]; then
  cp -a "$P" "$C"
else
  strata snapshot create root s1 >/dev/null || fail "snapshot create failed"
  strata branch create child --from root@s1 >/dev/null || fail "branch create child failed"
fi
diff -u "$PARENT_DIGEST" <(tree_digest "$C") >&2 || fail "child differs from its parent at the fork"
ok "child identical to parent"

check "truncate -s 0 then extend with dd seek: the gap reads zeros"
truncate -s 0 "$C/big"
[[ $(stat -c %s "$C/big") == 0 ]] || fail "size after truncate is not 0"
head -c 4096 /dev/urandom >"$ROOT/blk"
dd if="$ROOT/blk" of="$C/big" bs=4096 seek=100 conv=notrunc status=none
[[ $(stat -c %s "$C/big") == $((101 * 4096)) ]] || fail "size after extend is $(stat -c %s "$C/big")"
cmp -n $((100 * 4096)) "$C/big" /dev/zero || fail "gap after truncate+extend does not read zeros (stale pages?)"
cmp <(tail -c 4096 "$C/big") "$ROOT/blk" || fail "extended block content wrong"
# also a re-extend by truncate only (no write): zeros
truncate -s 0 "$C/dir/sub/f4"
truncate -s 20000 "$C/dir/sub/f4"
cmp -n 20000 "$C/dir/sub/f4" /dev/zero || fail "truncate 0 + truncate up does not read zeros"
ok "zeros in the gap"
parent_unchanged "truncate + extend"

check "unlink then recreate the same name reads only new content"
rm "$C/f2"
[[ ! -e "$C/f2" ]] || fail "f2 still exists after unlink"
printf 'new' >"$C/f2"
[[ $(cat "$C/f2") == new ]] || fail "recreated f2 reads '$(cat "$C/f2")'"
[[ $(stat -c %s "$C/f2") == 3 ]] || fail "recreated f2 has size $(stat -c %s "$C/f2")"
ok "only new content"
parent_unchanged "unlink + recreate"

check "mv over an existing name"
echo "renamed in" >"$C/tmpname"
mv -f "$C/tmpname" "$C/dir/f3"
[[ ! -e "$C/tmpname" ]] || fail "source name still exists after rename"
[[ $(cat "$C/dir/f3") == "renamed in" ]] || fail "rename target has wrong content"
[[ $(cat "$C/link") == "renamed in" ]] || fail "symlink to renamed-over file reads wrong content"
ok "rename replaced the target"
parent_unchanged "rename over existing"

check "hard link shares content"
ln "$C/dir/f3" "$C/hl"
[[ $(stat -c %h "$C/hl") == 2 ]] || fail "link count is $(stat -c %h "$C/hl"), expected 2"
echo "appended via hl" >>"$C/hl"
cmp "$C/hl" "$C/dir/f3" || fail "hard links differ after a write through one of them"
[[ $(stat -c %i "$C/hl") == $(stat -c %i "$C/dir/f3") ]] || fail "hard links have different inode numbers"
rm "$C/hl"
[[ $(stat -c %h "$C/dir/f3") == 1 ]] || fail "link count after unlink of one name is not 1"
grep -q "appended via hl" "$C/dir/f3" || fail "content lost after unlinking the other name"
ok "hard link"
parent_unchanged "hard link"

check "symlink"
ln -s sub/f4 "$C/dir/sl"
[[ $(readlink "$C/dir/sl") == sub/f4 ]] || fail "readlink gives '$(readlink "$C/dir/sl")'"
cmp "$C/dir/sl" "$C/dir/sub/f4" || fail "reading through the symlink differs"
[[ $(readlink "$C/link") == dir/f3 ]] || fail "inherited symlink target wrong"
ok "symlink"
parent_unchanged "symlink"

check "sparse file: holes read as zeros"
dd if="$ROOT/blk" of="$C/sparse" bs=8192 seek=1000 count=1 status=none
[[ $(stat -c %s "$C/sparse") == $((1000 * 8192 + 4096)) ]] || fail "sparse size wrong: $(stat -c %s "$C/sparse")"
cmp -n $((1000 * 8192)) "$C/sparse" /dev/zero || fail "hole does not read zeros"
truncate -s 10M "$C/sparse2"
cmp -n $((10 * 1024 * 1024)) "$C/sparse2" /dev/zero || fail "truncate-extended file does not read zeros"
cmp -n $((1024 * 1024 - 4)) "$C/holey" /dev/zero || fail "inherited hole does not read zeros"
[[ $(tail -c 4 "$C/holey") == tail ]] || fail "inherited file tail wrong"
ok "holes are zeros"
parent_unchanged "sparse files"

check "O_CREAT|O_EXCL on an existing file fails with EEXIST"
excl() { perl -MFcntl -MErrno=EEXIST -e 'sysopen(my $f, $ARGV[0], O_CREAT|O_EXCL|O_WRONLY, 0600) and exit 0; exit($!{EEXIST} ? 17 : 1)' "$1"; }
set +e
excl "$C/f2"
rc=$?
set -e
[[ $rc == 17 ]] || fail "O_EXCL create of an existing file: rc $rc (want EEXIST)"
excl "$C/excl_new" || fail "O_EXCL create of a new file failed"
set +e
excl "$C/excl_new"
rc=$?
set -e
[[ $rc == 17 ]] || fail "second O_EXCL create did not fail with EEXIST"
ok "EEXIST"
parent_unchanged "O_EXCL"

check "files created by a non-root user carry its uid/gid/mode"
runuser -u postgres -- touch "$C/pgdir/by_pg"
runuser -u postgres -- mkdir "$C/pgdir/dir_by_pg"
runuser -u postgres -- sh -c "umask 077; echo x > '$C/pgdir/private'"
runuser -u postgres -- chmod 640 "$C/pgdir/by_pg"
[[ $(stat -c '%U:%G %a' "$C/pgdir/by_pg") == "postgres:postgres 640" ]] || fail "by_pg: $(stat -c '%U:%G %a' "$C/pgdir/by_pg")"
[[ $(stat -c '%U:%G' "$C/pgdir/dir_by_pg") == "postgres:postgres" ]] || fail "dir_by_pg: $(stat -c '%U:%G' "$C/pgdir/dir_by_pg")"
[[ $(stat -c '%U:%G %a' "$C/pgdir/private") == "postgres:postgres 600" ]] || fail "private: $(stat -c '%U:%G %a' "$C/pgdir/private")"
[[ $(stat -c '%U:%G' "$C/big") == "root:root" ]] || fail "root-created file: $(stat -c '%U:%G' "$C/big")"
ok "ownership and modes"
parent_unchanged "files by postgres"

check "rmdir of a non-empty directory fails; of an empty one works"
if rmdir "$C/dir" 2>/dev/null; then fail "rmdir of a non-empty dir succeeded"; fi
mkdir "$C/emptydir"
rmdir "$C/emptydir" || fail "rmdir of an empty dir failed"
ok "rmdir"

check "child state after remount-free re-read (drop kernel caches)"
sync
echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
cmp -n $((100 * 4096)) "$C/big" /dev/zero || fail "gap not zeros after dropping caches"
[[ $(cat "$C/f2") == new ]] || fail "f2 wrong after dropping caches"
parent_unchanged "dropping caches"

check "a write to the parent after the fork is invisible in the child"
echo "late parent write" >>"$P/f2"
[[ $(cat "$C/f2") == new ]] || fail "child sees a parent write made after the fork"
ok "isolated"

check "strata status counts FUSE requests per opcode and the daemon's CPU by thread"
fuse_count() { strata status --json | jres | jq -r --arg op "$1" '.fuse.ops[$op].count // 0'; }
writes=$(fuse_count write)
fsyncs=$(fuse_count fsync)
renames=$(fuse_count rename)
errors=$(strata status --json | jres | jq -r '.fuse.ops.lookup.errors // 0')
dd if=/dev/urandom of="$C/counted" bs=8192 count=4 conv=fsync status=none
mv "$C/counted" "$C/counted2"
ls "$C/no-such-file" >/dev/null 2>&1 && fail "ls of a missing file succeeded"
[[ $(fuse_count write) -gt $writes ]] || fail "WRITE count did not grow ($writes)"
[[ $(fuse_count fsync) -gt $fsyncs ]] || fail "FSYNC count did not grow ($fsyncs)"
[[ $(fuse_count rename) -eq $((renames + 1)) ]] || fail "RENAME count: $(fuse_count rename), expected $((renames + 1))"
# A missing name is a negative entry, not an error; a failed rmdir is one.
rmdir "$C/dir" 2>/dev/null && fail "rmdir of a non-empty dir succeeded"
[[ $(strata status --json | jres | jq -r '.fuse.ops.rmdir.errors') -ge 1 ]] || fail "the failed RMDIR is not counted as an error"
[[ $(strata status --json | jres | jq -r '.fuse.ops.lookup.errors // 0') -eq $errors ]] || fail "a negative LOOKUP counted as an error"
STATUS=$(strata status --json | jres)
jq -e '.fuse.ops.write.bytes >= 32768 and .fuse.ops.write.p50_us > 0 and (.fuse.ops.write.buckets | length) == (.fuse.bounds_us | length) + 1' <<<"$STATUS" >/dev/null ||
  fail "write counters: $(jq -c .fuse.ops.write <<<"$STATUS")"
jq -e '.cpu.total_seconds > 0 and .cpu.threads["strata-fuse"] > 0' <<<"$STATUS" >/dev/null ||
  fail "cpu: $(jq -c .cpu <<<"$STATUS")"
strata status | grep -q '^fuse: .* requests; ' || fail "strata status has no fuse line"
METRICS=$(api GET /metrics)
grep -q '^strata_fuse_requests_total{op="write"} ' <<<"$METRICS" || fail "no strata_fuse_requests_total in /metrics"
grep -q '^strata_fuse_request_seconds_bucket{op="fsync",le="+Inf"} ' <<<"$METRICS" || fail "no FSYNC latency histogram in /metrics"
grep -q '^strata_thread_cpu_seconds{thread="strata-fuse"} ' <<<"$METRICS" || fail "no strata-fuse CPU in /metrics"
ok "fuse and cpu counters"
umount_daemon
