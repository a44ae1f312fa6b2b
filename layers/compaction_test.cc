// Property test of compaction and GC (docs/gc.md): random histories of puts,
// deletes, truncations (kDead markers), flushes and forks; then every
// retained point must read exactly as before, garbage must be gone, and a
// fresh index (a new machine) must agree.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "layers/key.h"
#include "layers/strata_test_util.h"
#include "layers/version_store.h"

namespace strata {
namespace {

using testing::TestEnv;

struct BranchModel {
  uint32_t id = 0;
  Lineage ancestors;  // levels below this branch (its parent at the fork point...)
  std::map<uint64_t, std::vector<KeyPut>> commits;  // seq -> puts
  std::map<uint64_t, uint64_t> dead;                // data id -> seq of its kDead marker
  GcPoints points;
  uint64_t head = 0;
  Lineage At(uint64_t p) const {
    Lineage l = {{id, p}};
    l.insert(l.end(), ancestors.begin(), ancestors.end());
    return l;
  }
  std::vector<uint64_t> Retained() const {
    std::set<uint64_t> s(points.retain.pins.begin(), points.retain.pins.end());
    for (uint64_t p = points.retain.window_start; p <= head; p++) s.insert(p);
    return {s.begin(), s.end()};
  }
};

class CompactionProperty : public ::testing::TestWithParam<int> {
 protected:
  std::mt19937 rng_{static_cast<unsigned>(GetParam())};
  uint64_t Rand(uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_); }

  // A key: a page of one of 4 data ids (ids 10..13), or a small key.
  std::string RandomKey(const BranchModel& b) {
    if (Rand(3) == 0) return "k" + std::to_string(Rand(6));
    for (;;) {
      const uint64_t data_id = 10 + Rand(4);
      if (!b.dead.count(data_id)) return PageKey(data_id, Rand(3));
      if (b.dead.size() == 4) return "k" + std::to_string(Rand(6));
    }
  }

  void RandomCommit(VersionStore* vs, BranchModel& b) {
    std::vector<KeyPut> puts;
    uint64_t dying = 0;  // a data id dies: its file is truncated to zero
    if (Rand(25) == 0 && b.dead.size() < 3) {
      uint64_t d = 10 + Rand(4);
      if (!b.dead.count(d)) puts.push_back({DeadKey(d), false, ""}), dying = d;
    }
    std::set<std::string> used;
    for (uint64_t n = 1 + Rand(3); n > 0; n--) {
      std::string key = RandomKey(b);
      const bool page = key.size() == 17 && KeyKindOf(key) == KeyKind::kPage;
      if (page && KeyIno(key) == dying) continue;  // never written again
      if (!used.insert(key).second) continue;
      const bool del = Rand(5) == 0;
      std::string value = del ? "" : std::string(Rand(2) ? 300 : 20, char('a' + Rand(26)));
      puts.push_back({key, del, value});
    }
    ASSERT_OK_AND_ASSIGN(uint64_t seq, vs->Commit(b.id, puts));
    for (const KeyPut& p : puts) {
      if (p.key.size() == 17 && KeyIno(p.key) == 0) b.dead[MetaKeyId(p.key)] = seq;
    }
    b.commits[seq] = puts;
    b.head = seq;
  }

  // What a retained point reads, minus pages of data ids that died at or
  // before the point in any level of its lineage: no inode reaches those
  // (the filesystem gave the file a new data id or purged it).
  std::string StateAt(VersionStore* vs, const std::vector<BranchModel>& all, const BranchModel& b,
                      uint64_t p) {
    const Lineage lineage = b.At(p);
    auto dead = [&](uint64_t data_id) {
      for (const Level& level : lineage) {
        const BranchModel& m = all[level.branch - 1];
        auto it = m.dead.find(data_id);
        if (it != m.dead.end() && it->second <= level.max_seq) return true;
      }
      return false;
    };
    std::string out;
    Status st = vs->Scan(lineage, "", [&](std::string_view k, const std::string& v) {
      if (k.size() == 17 && KeyKindOf(k) == KeyKind::kPage && dead(KeyIno(k))) return;
      out += std::string(k) + "=" + v + ";";
    });
    return st.ok() ? out : "ERR " + st.ToString();
  }

  std::map<std::pair<uint32_t, uint64_t>, std::string> Snapshot(
      VersionStore* vs, const std::vector<BranchModel>& branches) {
    std::map<std::pair<uint32_t, uint64_t>, std::string> out;
    for (const BranchModel& b : branches) {
      for (uint64_t p : b.Retained()) out[{b.id, p}] = StateAt(vs, branches, b, p);
    }
    return out;
  }

  // How many versions of the branch's own keyspace some retained point reads
  // (plus its kDead markers, which are always kept): what must survive.
  uint64_t ExpectedRetained(const BranchModel& b) {
    std::set<std::pair<std::string, uint64_t>> kept;
    std::map<std::string, std::vector<uint64_t>> versions;  // key -> seqs ascending
    for (const auto& [seq, puts] : b.commits) {
      for (const KeyPut& p : puts) {
        versions[p.key].push_back(seq);
        if (p.key.size() == 17 && KeyIno(p.key) == 0) kept.insert({p.key, seq});
      }
    }
    for (uint64_t p : b.Retained()) {
      for (const auto& [key, seqs] : versions) {
        auto it = std::upper_bound(seqs.begin(), seqs.end(), p);
        if (it == seqs.begin()) continue;
        const uint64_t seq = *std::prev(it);
        if (key.size() == 17 && KeyKindOf(key) == KeyKind::kPage) {
          auto d = b.dead.find(KeyIno(key));
          if (d != b.dead.end() && d->second <= p) continue;
        }
        kept.insert({key, seq});
      }
    }
    return kept.size();
  }

  void PickPoints(BranchModel& b, const std::vector<uint64_t>& child_forks) {
    b.points.retain.window_start = b.head == 0 ? 0 : Rand(b.head + 2);
    for (uint64_t n = Rand(4); n > 0; n--) b.points.retain.pins.push_back(Rand(b.head + 1));
    b.points.child_pins = child_forks;
    for (uint64_t f : child_forks) b.points.retain.pins.push_back(f);
    b.points.retain.Normalize();
    std::sort(b.points.child_pins.begin(), b.points.child_pins.end());
  }
};

using States = std::map<std::pair<uint32_t, uint64_t>, std::string>;
// Names the first retained point that reads differently.
void ExpectSame(const States& got, const States& want) {
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [point, state] : want) {
    const std::string& now = got.at(point);
    if (now == state) continue;
    size_t i = 0;
    while (i < now.size() && i < state.size() && now[i] == state[i]) i++;
    ADD_FAILURE() << "branch " << point.first << " at seq " << point.second
                  << " reads differently from byte " << i << ": now '"
                  << now.substr(i > 40 ? i - 40 : 0, 80) << "', was '"
                  << state.substr(i > 40 ? i - 40 : 0, 80) << "'";
    return;
  }
}

TEST_P(CompactionProperty, RetainedPointsReadTheSameAndGarbageGoes) {
  TestEnv env(4096);  // tiny memtables: many layers
  ASSERT_OK(env.Open());
  VersionStore* vs = env.vs();
  std::vector<BranchModel> branches(3);
  branches[0].id = 1;
  ASSERT_OK(vs->CreateBranch(1));
  for (int i = 0; i < 120; i++) {
    RandomCommit(vs, branches[0]);
    if (Rand(6) == 0) ASSERT_OK(vs->Flush(1));
  }
  // Branch 2 forks 1 at its head; branch 3 forks 2 later.
  const uint64_t f = branches[0].head;
  branches[1].id = 2;
  branches[1].ancestors = {{1, f}};
  ASSERT_OK(vs->CreateBranch(2));
  uint64_t g = 0;
  for (int i = 0; i < 200; i++) {
    BranchModel& b = branches[i % 2];
    RandomCommit(vs, b);
    if (Rand(6) == 0) ASSERT_OK(vs->Flush(b.id));
    if (i == 120) {
      g = branches[1].head;
      branches[2].id = 3;
      branches[2].ancestors = {{2, g}, {1, f}};
      ASSERT_OK(vs->CreateBranch(3));
    }
  }
  for (int i = 0; i < 40; i++) RandomCommit(vs, branches[2]);
  ASSERT_OK(vs->FlushAll());
  PickPoints(branches[0], {f});
  PickPoints(branches[1], {g});
  PickPoints(branches[2], {});
  const auto before = Snapshot(vs, branches);

  CompactionPolicy eager;
  eager.rewrite_garbage_ratio = 1e-9;  // every layer with any garbage
  eager.small_layer_bytes = 1;         // only garbage picks layers: a second pass is a no-op
  eager.max_input_bytes = UINT64_MAX / 2;
  eager.target_layer_bytes = 8192;  // several output layers per pass
  for (const BranchModel& b : branches) {
    ASSERT_OK(vs->Compact(b.id, b.points, eager));
  }
  ExpectSame(Snapshot(vs, branches), before);
  for (BranchModel& b : branches) {
    ASSERT_OK_AND_ASSIGN(SpaceAccount after, vs->Analyze(b.id, b.points));
    EXPECT_EQ(after.garbage_versions, 0u) << "branch " << b.id;
    EXPECT_EQ(after.versions, ExpectedRetained(b)) << "branch " << b.id;
  }
  // A second pass finds nothing left to do.
  for (const BranchModel& b : branches) {
    ASSERT_OK_AND_ASSIGN(CompactionResult again, vs->Compact(b.id, b.points, eager));
    EXPECT_EQ(again.deleted_layers, 0u);
  }
  // A new machine: no index, only the store.
  env.Close();
  env.DeleteIndex();
  ASSERT_OK(env.Reopen({1, 2, 3}));
  ExpectSame(Snapshot(env.vs(), branches), before);
  // Nothing in the store that no manifest names.
  for (const BranchModel& b : branches) {
    ASSERT_OK_AND_ASSIGN(uint64_t leaked, env.vs()->SweepLeaked(b.id));
    EXPECT_EQ(leaked, 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, CompactionProperty, ::testing::Range(1, 31));

}  // namespace
}  // namespace strata
