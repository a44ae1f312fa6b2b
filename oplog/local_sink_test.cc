#include "oplog/local_sink.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>
#include <vector>

#include "common/temp_dir.h"
#include "oplog/fault_sink.h"

namespace strata {
namespace {

namespace fs = std::filesystem;

using testing::TempDir;

OpRecord Rec(uint32_t branch, uint64_t seq, size_t value_bytes = 100) {
  OpRecord r;
  r.branch = branch;
  r.seq = seq;
  r.time_ns = seq * 1000;
  r.puts.push_back({"key/" + std::to_string(seq), false, std::string(value_bytes, 'v')});
  if (seq % 3 == 0) r.puts.push_back({"gone/" + std::to_string(seq), true, ""});
  return r;
}

// Most tests cut and measure segment files, so they run without the
// zero-filled spare segments; PreallocatedSegments covers those.
std::unique_ptr<Sink> Open(const std::string& dir, uint64_t segment_bytes = 64ull << 20,
                           bool preallocate = false) {
  LocalSinkOptions options;
  options.segment_bytes = segment_bytes;
  options.preallocate = preallocate;
  auto r = OpenLocalSink(dir, options);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : nullptr;
}

std::vector<std::pair<uint32_t, uint64_t>> ReplayAll(Sink* sink) {
  std::vector<std::pair<uint32_t, uint64_t>> out;
  const Status s = sink->Replay([&](const OpRecord& r) {
    const OpRecord want = Rec(r.branch, r.seq, r.puts.empty() ? 0 : r.puts[0].value.size());
    EXPECT_EQ(r.puts.size(), want.puts.size());
    if (!r.puts.empty()) {
      EXPECT_EQ(r.puts[0].key, want.puts[0].key);
    }
    out.emplace_back(r.branch, r.seq);
    return Status::OK();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

std::vector<fs::path> Segments(const std::string& dir) {
  std::vector<fs::path> v;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".log") v.push_back(e.path());
  }
  std::sort(v.begin(), v.end());
  return v;
}

void FlipByte(const fs::path& p, uint64_t off) {
  std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(off));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x20);
  f.seekp(static_cast<std::streamoff>(off));
  f.write(&c, 1);
}

TEST(LocalSinkTest, AppendReplayAcrossReopen) {
  TempDir d;
  uint64_t last = 0;
  {
    auto sink = Open(d.path());
    EXPECT_EQ(sink->Tail(), 0u);
    EXPECT_TRUE(sink->Sync(0).ok());
    for (uint64_t s = 1; s <= 100; s++) {
      auto t = sink->Append(Rec(s % 2, s));
      ASSERT_TRUE(t.ok()) << t.status().ToString();
      EXPECT_GT(*t, last);
      last = *t;
    }
    EXPECT_EQ(sink->Tail(), last);
    ASSERT_TRUE(sink->Sync(last).ok());
    EXPECT_EQ(sink->Sync(last + 1).code(), Code::kInvalid);
    EXPECT_EQ(ReplayAll(sink.get()).size(), 100u);
  }
  auto sink = Open(d.path());
  EXPECT_EQ(sink->Tail(), last);  // tokens continue after the existing tail
  auto got = ReplayAll(sink.get());
  ASSERT_EQ(got.size(), 100u);
  for (uint64_t s = 1; s <= 100; s++) EXPECT_EQ(got[s - 1], std::make_pair<uint32_t>(s % 2, s));
  auto t = sink->Append(Rec(0, 101));
  ASSERT_TRUE(t.ok());
  EXPECT_GT(*t, last);
  EXPECT_TRUE(sink->Sync(*t).ok());
  EXPECT_EQ(ReplayAll(sink.get()).size(), 101u);
}

TEST(LocalSinkTest, RotatesAcrossManySegments) {
  TempDir d;
  std::vector<uint64_t> tokens;
  {
    auto sink = Open(d.path(), 4096);
    for (uint64_t s = 1; s <= 1000; s++) {
      auto t = sink->Append(Rec(1, s, s % 50 == 0 ? 10000 : 200));  // some exceed a segment
      ASSERT_TRUE(t.ok());
      tokens.push_back(*t);
    }
    ASSERT_TRUE(sink->Sync(tokens.back()).ok());
    const SinkStats st = sink->Stats();
    EXPECT_GT(st.segments, 50u);
    EXPECT_EQ(st.bytes_on_disk, tokens.back());
    EXPECT_EQ(st.appended_bytes, tokens.back());
  }
  // Names are start offsets: contiguous, each segment within its size limit
  // unless it holds a single oversized record.
  uint64_t expect_start = 0;
  for (const fs::path& p : Segments(d.path())) {
    EXPECT_EQ(p.filename().string(), SegmentFileName(expect_start));
    const uint64_t size = fs::file_size(p);
    EXPECT_TRUE(size <= 4096 || size > 10000) << p << " " << size;
    expect_start += size;
  }
  EXPECT_EQ(expect_start, tokens.back());
  auto sink = Open(d.path(), 4096);
  auto got = ReplayAll(sink.get());
  ASSERT_EQ(got.size(), 1000u);
  for (uint64_t s = 1; s <= 1000; s++) EXPECT_EQ(got[s - 1].second, s);
}

// With spares, segments start zero-filled: records overwrite the zeros, a
// rotated-out segment is cut to its records, and after a crash the zero tail
// of the last one reads as a torn tail, losing nothing.
TEST(LocalSinkTest, PreallocatedSegments) {
  TempDir d;
  constexpr uint64_t kSeg = 4096;
  {
    auto sink = Open(d.path(), kSeg, /*preallocate=*/true);
    // Give the preparer time to have a spare ready before each rotation.
    for (uint64_t s = 1; s <= 60; s++) {
      ASSERT_TRUE(sink->Append(Rec(1, s)).ok());
      ASSERT_TRUE(sink->Sync(sink->Tail()).ok());
      if (s % 5 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const auto segs = Segments(d.path());
    ASSERT_GE(segs.size(), 3u);
    for (size_t i = 0; i + 1 < segs.size(); i++) EXPECT_LE(fs::file_size(segs[i]), kSeg);
    EXPECT_EQ(fs::file_size(segs.back()), kSeg);  // a spare: zeros past the records
  }                                               // a crash keeps the files as they are
  auto sink = Open(d.path(), kSeg, /*preallocate=*/true);
  const auto got = ReplayAll(sink.get());
  ASSERT_EQ(got.size(), 60u);
  EXPECT_EQ(got.back().second, 60u);
  ASSERT_TRUE(sink->Append(Rec(1, 61)).ok());
  EXPECT_EQ(ReplayAll(sink.get()).size(), 61u);
}

TEST(LocalSinkTest, TornTailIsTruncated) {
  for (uint64_t chop : {1, 5, 9, 20, 150}) {
    SCOPED_TRACE(chop);
    TempDir d;
    {
      auto sink = Open(d.path(), 2048);
      for (uint64_t s = 1; s <= 30; s++) ASSERT_TRUE(sink->Append(Rec(1, s)).ok());
      ASSERT_TRUE(sink->Sync(sink->Tail()).ok());
    }
    const fs::path last = Segments(d.path()).back();
    const uint64_t size = fs::file_size(last);
    fs::resize_file(last, size - chop);
    uint64_t tail = 0;
    {
      auto sink = Open(d.path(), 2048);
      auto got = ReplayAll(sink.get());
      ASSERT_EQ(got.size(), 29u);
      EXPECT_EQ(got.back().second, 29u);
      EXPECT_LT(fs::file_size(last), size - chop);  // cut back to the last whole record
      for (uint64_t s = 30; s <= 40; s++) ASSERT_TRUE(sink->Append(Rec(1, s)).ok());
      tail = sink->Tail();
      ASSERT_TRUE(sink->Sync(tail).ok());
      EXPECT_EQ(ReplayAll(sink.get()).size(), 40u);
    }
    auto sink = Open(d.path(), 2048);
    EXPECT_EQ(sink->Tail(), tail);
    auto got = ReplayAll(sink.get());
    ASSERT_EQ(got.size(), 40u);
    for (uint64_t s = 1; s <= 40; s++) EXPECT_EQ(got[s - 1].second, s);
  }
}

TEST(LocalSinkTest, ZeroFilledTailIsTorn) {
  TempDir d;
  {
    auto sink = Open(d.path());
    for (uint64_t s = 1; s <= 5; s++) ASSERT_TRUE(sink->Append(Rec(1, s)).ok());
  }
  const fs::path last = Segments(d.path()).back();
  fs::resize_file(last, fs::file_size(last) + 4096);  // extended, never written
  auto sink = Open(d.path());
  EXPECT_EQ(ReplayAll(sink.get()).size(), 5u);
}

TEST(LocalSinkTest, CorruptionIsReportedWithFileAndOffset) {
  TempDir d;
  {
    auto sink = Open(d.path(), 2048);
    for (uint64_t s = 1; s <= 60; s++) ASSERT_TRUE(sink->Append(Rec(1, s)).ok());
  }
  const auto segs = Segments(d.path());
  ASSERT_GE(segs.size(), 4u);

  // A flipped byte inside a middle segment.
  FlipByte(segs[1], 300);
  auto r = OpenLocalSink(d.path(), 2048);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find(segs[1].filename().string()), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("offset"), std::string::npos);
  FlipByte(segs[1], 300);  // repair
  ASSERT_TRUE(OpenLocalSink(d.path(), 2048).ok());

  // A torn record at the end of a non-last segment is not a torn tail.
  const uint64_t size = fs::file_size(segs[2]);
  fs::resize_file(segs[2], size - 3);
  r = OpenLocalSink(d.path(), 2048);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find(segs[2].filename().string()), std::string::npos);
}

// A power loss can leave the unsynced last record complete but with garbage
// in it: with nothing valid after it, it ends the log like a torn tail.
TEST(LocalSinkTest, BadLastRecordOfLastSegmentEndsTheLog) {
  TempDir d;
  {
    auto sink = Open(d.path());
    for (uint64_t s = 1; s <= 10; s++) ASSERT_TRUE(sink->Append(Rec(1, s)).ok());
  }
  const fs::path last = Segments(d.path()).back();
  FlipByte(last, fs::file_size(last) - 10);  // inside the last, complete record
  auto sink = Open(d.path());
  const auto recs = ReplayAll(sink.get());
  ASSERT_EQ(recs.size(), 9u);
  EXPECT_EQ(recs.back().second, 9u);
  ASSERT_TRUE(sink->Append(Rec(1, 10)).ok());  // the log goes on after the cut
  EXPECT_EQ(ReplayAll(sink.get()).size(), 10u);
}

// Damage followed by valid records is inside the durable log: corruption.
TEST(LocalSinkTest, ChecksumMismatchBeforeValidRecordsIsCorruption) {
  TempDir d;
  {
    auto sink = Open(d.path());
    for (uint64_t s = 1; s <= 10; s++) ASSERT_TRUE(sink->Append(Rec(1, s)).ok());
  }
  const fs::path last = Segments(d.path()).back();
  FlipByte(last, fs::file_size(last) / 2);
  auto r = OpenLocalSink(d.path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
}

TEST(LocalSinkTest, CorruptionAfterOpenFailsReplay) {
  TempDir d;
  auto sink = Open(d.path());
  for (uint64_t s = 1; s <= 10; s++) ASSERT_TRUE(sink->Append(Rec(1, s)).ok());
  FlipByte(Segments(d.path()).back(), 50);
  const Status s = sink->Replay([](const OpRecord&) { return Status::OK(); });
  EXPECT_EQ(s.code(), Code::kCorruption) << s.ToString();
}

TEST(LocalSinkTest, ReplayStopsOnCallbackError) {
  TempDir d;
  auto sink = Open(d.path());
  for (uint64_t s = 1; s <= 10; s++) ASSERT_TRUE(sink->Append(Rec(1, s)).ok());
  int n = 0;
  const Status s =
      sink->Replay([&](const OpRecord&) { return ++n == 3 ? Status::Busy("stop") : Status::OK(); });
  EXPECT_EQ(s.code(), Code::kBusy);
  EXPECT_EQ(n, 3);
}

TEST(LocalSinkTest, TrimDeletesOnlyFullyCoveredSegments) {
  TempDir d;
  auto sink = Open(d.path(), 1024);
  // Branch 1 writes throughout; branch 2 only into the early segments.
  for (uint64_t s = 1; s <= 40; s++) {
    ASSERT_TRUE(sink->Append(Rec(1, s)).ok());
    if (s <= 10) {
      ASSERT_TRUE(sink->Append(Rec(2, s)).ok());
    }
  }
  const uint64_t before = sink->Stats().segments;
  ASSERT_GT(before, 8u);

  // Covering branch 1 alone frees nothing that still holds branch 2 records.
  ASSERT_TRUE(sink->Trim(1, 10).ok());
  EXPECT_EQ(sink->Stats().segments, before);
  auto got = ReplayAll(sink.get());
  EXPECT_EQ(got.size(), 50u);

  // Now the first segments are fully covered.
  ASSERT_TRUE(sink->Trim(2, 10).ok());
  const uint64_t after = sink->Stats().segments;
  EXPECT_LT(after, before);
  got = ReplayAll(sink.get());
  // Nothing uncovered was dropped; covered records survive only in a segment
  // shared with uncovered ones.
  EXPECT_LT(got.size(), 50u);
  size_t uncovered = 0;
  for (auto [b, s] : got) uncovered += (b == 1 && s > 10);
  EXPECT_EQ(uncovered, 30u);
  EXPECT_EQ(got.back().second, 40u);

  // Trimming lower never un-trims; everything covered still leaves the current segment.
  ASSERT_TRUE(sink->Trim(1, 5).ok());
  ASSERT_TRUE(sink->Trim(1, 40).ok());
  EXPECT_EQ(sink->Stats().segments, 1u);
  EXPECT_EQ(Segments(d.path()).size(), 1u);
  EXPECT_EQ(sink->Stats().bytes_on_disk, fs::file_size(Segments(d.path()).back()));

  // Appends and reopen still work after trimming.
  auto t = sink->Append(Rec(1, 41));
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(sink->Sync(*t).ok());
  sink.reset();
  sink = Open(d.path(), 1024);
  got = ReplayAll(sink.get());
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.back().second, 41u);
}

TEST(LocalSinkTest, TrimMaxForgetsBranch) {
  TempDir d;
  auto sink = Open(d.path(), 1024);
  for (uint64_t s = 1; s <= 30; s++) ASSERT_TRUE(sink->Append(Rec(5, s)).ok());
  for (uint64_t s = 1; s <= 3; s++) ASSERT_TRUE(sink->Append(Rec(6, s)).ok());
  ASSERT_TRUE(sink->Trim(5, UINT64_MAX).ok());  // branch 5 deleted
  // Only the current segment (holding branch 6) survives.
  EXPECT_EQ(sink->Stats().segments, 1u);
  // A later record of a reused id is tracked afresh, not treated as trimmed.
  for (uint64_t s = 1; s <= 30; s++) ASSERT_TRUE(sink->Append(Rec(5, s)).ok());
  const uint64_t n = sink->Stats().segments;
  ASSERT_TRUE(sink->Trim(6, 3).ok());
  EXPECT_EQ(sink->Stats().segments, n);
}

TEST(LocalSinkTest, TrimAfterReopenUsesRebuiltMaps) {
  TempDir d;
  {
    auto sink = Open(d.path(), 1024);
    for (uint64_t s = 1; s <= 40; s++) ASSERT_TRUE(sink->Append(Rec(1, s)).ok());
  }
  auto sink = Open(d.path(), 1024);
  const uint64_t before = sink->Stats().segments;
  ASSERT_TRUE(sink->Trim(1, 20).ok());
  const uint64_t after = sink->Stats().segments;
  EXPECT_LT(after, before);
  auto got = ReplayAll(sink.get());
  ASSERT_FALSE(got.empty());
  EXPECT_LE(got.front().second, 21u);
  EXPECT_EQ(got.back().second, 40u);
}

TEST(LocalSinkTest, GroupCommit) {
  TempDir d;
  auto sink = Open(d.path(), 256 << 10);  // rotations happen mid-run too
  constexpr int kThreads = 8, kOps = 500;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      for (int i = 1; i <= kOps; i++) {
        auto tok = sink->Append(Rec(static_cast<uint32_t>(t), static_cast<uint64_t>(i), 1000));
        if (!tok.ok() || !sink->Sync(*tok).ok()) failures++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  const SinkStats st = sink->Stats();
  std::printf("group commit: %d x %d append+sync: syncs=%llu sync_waits=%llu segments=%llu\n",
              kThreads, kOps, static_cast<unsigned long long>(st.syncs),
              static_cast<unsigned long long>(st.sync_waits),
              static_cast<unsigned long long>(st.segments));
  EXPECT_EQ(st.sync_waits, static_cast<uint64_t>(kThreads * kOps));
  EXPECT_LT(st.syncs * 2, st.sync_waits);
  sink.reset();
  sink = Open(d.path());
  auto got = ReplayAll(sink.get());
  ASSERT_EQ(got.size(), static_cast<size_t>(kThreads * kOps));
  std::map<uint32_t, uint64_t> next;
  for (auto [b, s] : got) EXPECT_EQ(s, ++next[b]);  // per-branch order kept
}

TEST(LocalSinkTest, FailedFdatasyncIsSticky) {
  TempDir d;
  std::atomic<int> fail_errno{0};
  LocalSinkOptions opts;
  opts.fdatasync_for_test = [&](int fd) {
    if (int e = fail_errno.load()) {
      errno = e;
      return -1;
    }
    return ::fdatasync(fd);
  };
  auto r = OpenLocalSink(d.path(), opts);
  ASSERT_TRUE(r.ok());
  auto sink = std::move(r).value();
  auto t1 = sink->Append(Rec(1, 1));
  ASSERT_TRUE(t1.ok());
  ASSERT_TRUE(sink->Sync(*t1).ok());
  auto t2 = sink->Append(Rec(1, 2));
  ASSERT_TRUE(t2.ok());

  fail_errno = ENOSPC;
  Status s = sink->Sync(*t2);
  EXPECT_EQ(s.code(), Code::kNoSpace) << s.ToString();
  EXPECT_NE(s.message().find(SegmentFileName(0)), std::string::npos) << s.message();

  fail_errno = 0;  // the disk "recovers": the sink must not believe it
  EXPECT_FALSE(sink->Sync(*t2).ok());
  EXPECT_FALSE(sink->Sync(*t1).ok());  // a failed sink answers nothing but the error
  EXPECT_FALSE(sink->Append(Rec(1, 3)).ok());
  EXPECT_FALSE(sink->Sync(sink->Tail()).ok());
}

TEST(LocalSinkTest, FailedRotationSyncIsSticky) {
  TempDir d;
  std::atomic<bool> fail{false};
  LocalSinkOptions opts;
  opts.segment_bytes = 1024;
  opts.fdatasync_for_test = [&](int fd) {
    if (fail) {
      errno = EIO;
      return -1;
    }
    return ::fdatasync(fd);
  };
  auto sink = std::move(OpenLocalSink(d.path(), opts)).value();
  fail = true;
  Status first;
  for (uint64_t s = 1; s <= 20 && first.ok(); s++) {
    auto t = sink->Append(Rec(1, s));
    if (!t.ok()) first = t.status();
  }
  EXPECT_EQ(first.code(), Code::kIO);
  fail = false;
  EXPECT_FALSE(sink->Append(Rec(1, 100)).ok());
  EXPECT_FALSE(sink->Sync(sink->Tail()).ok());
}

TEST(LocalSinkTest, MissingDirectoryIsCreated) {
  TempDir d;
  const std::string sub = d.path() + "/a/b/oplog";
  auto sink = Open(sub);
  ASSERT_TRUE(sink);
  EXPECT_TRUE(sink->Append(Rec(1, 1)).ok());
  EXPECT_EQ(Segments(sub).size(), 1u);
}

TEST(LocalSinkTest, OpenOnAFileFails) {
  TempDir d;
  const std::string file = d.path() + "/plain";
  std::ofstream(file) << "x";
  auto r = OpenLocalSink(file);
  EXPECT_FALSE(r.ok());
}

TEST(LocalSinkTest, OneSinkPerDirectory) {
  TempDir d;
  auto first = Open(d.path());
  auto second = OpenLocalSink(d.path());
  EXPECT_EQ(second.status().code(), Code::kBusy) << second.status().ToString();
  first.reset();
  EXPECT_TRUE(OpenLocalSink(d.path()).ok());
}

TEST(LocalSinkTest, OversizedRecordIsRejected) {
  TempDir d;
  auto sink = Open(d.path());
  OpRecord r = Rec(1, 1);
  r.puts.push_back({"big", false, std::string(kOpRecordMaxBodyBytes, 'b')});
  EXPECT_EQ(sink->Append(r).status().code(), Code::kTooBig);
  EXPECT_EQ(sink->Tail(), 0u);
  EXPECT_TRUE(sink->Append(Rec(1, 2)).ok());
}

TEST(FaultSinkTest, InjectsFailuresAndForwards) {
  TempDir d;
  FaultSink sink(Open(d.path()));
  sink.FailAppends(1);
  EXPECT_EQ(sink.Append(Rec(1, 1)).status().code(), Code::kIO);
  auto t = sink.Append(Rec(1, 1));
  ASSERT_TRUE(t.ok());
  sink.FailSyncs(1);
  EXPECT_FALSE(sink.Sync(*t).ok());
  EXPECT_TRUE(sink.Sync(*t).ok());  // not sticky by default
  sink.SetStickySyncFailure(true);
  sink.FailSyncs(1);
  EXPECT_FALSE(sink.Sync(*t).ok());
  EXPECT_FALSE(sink.Sync(*t).ok());
  sink.SetSyncLatency(std::chrono::milliseconds(1));
  EXPECT_EQ(ReplayAll(&sink).size(), 1u);
  EXPECT_EQ(sink.Tail(), *t);
}

// ReadFrames hands out whole frames by logical offset: what the shipping sink
// sends to the walsink server.
TEST(LocalSinkTest, ReadFramesReturnsWholeFramesInOrder) {
  TempDir d;
  auto sink = Open(d.path(), 4096);  // many small segments
  std::vector<uint64_t> ends;
  for (uint64_t s = 1; s <= 60; s++) {
    auto t = sink->Append(Rec(1, s, s == 30 ? 20000 : 200));  // seq 30 outgrows a segment
    ASSERT_TRUE(t.ok());
    ends.push_back(*t);
  }
  std::vector<uint64_t> seqs;
  uint64_t pos = 0;
  for (;;) {
    std::string frames;
    uint64_t first = 0, next = 0;
    ASSERT_TRUE(sink->ReadFrames(pos, 1000, &frames, &first, &next).ok());
    EXPECT_EQ(first, pos);  // nothing trimmed
    if (frames.empty()) {
      EXPECT_EQ(next, pos);
      break;
    }
    EXPECT_EQ(next - first, frames.size());
    for (size_t off = 0; off < frames.size();) {
      OpRecord r;
      size_t used = 0;
      ASSERT_TRUE(DecodeOpRecord(std::string_view(frames).substr(off), &r, &used).ok());
      seqs.push_back(r.seq);
      off += used;
      // Every frame ends exactly at the token Append returned for it.
      EXPECT_EQ(first + off, ends[r.seq - 1]);
    }
    pos = next;
  }
  ASSERT_EQ(seqs.size(), 60u);
  for (uint64_t s = 1; s <= 60; s++) EXPECT_EQ(seqs[s - 1], s);
  EXPECT_EQ(pos, sink->Tail());
}

TEST(LocalSinkTest, ReadFramesSkipsTrimmedSegments) {
  TempDir d;
  auto sink = Open(d.path(), 2048);
  for (uint64_t s = 1; s <= 40; s++) ASSERT_TRUE(sink->Append(Rec(1, s, 300)).ok());
  ASSERT_TRUE(sink->Trim(1, 20).ok());
  std::string frames;
  uint64_t first = 0, next = 0;
  ASSERT_TRUE(sink->ReadFrames(0, 1 << 20, &frames, &first, &next).ok());
  EXPECT_GT(first, 0u);  // the trimmed segments are skipped
  OpRecord r;
  size_t used = 0;
  ASSERT_TRUE(DecodeOpRecord(frames, &r, &used).ok());
  EXPECT_LE(r.seq, 21u);  // at most records 1..20 are gone, never a later one
  EXPECT_GT(r.seq, 1u);
}

TEST(LocalSinkTest, AckedSeqIsTheLastSyncedSeqOfEachBranch) {
  TempDir d;
  {
    auto sink = Open(d.path());
    uint64_t t = 0;
    for (uint64_t s = 1; s <= 5; s++) {
      t = *sink->Append(Rec(1, s));
      if (s <= 3) t = *sink->Append(Rec(2, s));
    }
    EXPECT_EQ(sink->AckedSeq(1), 0u);
    ASSERT_TRUE(sink->Sync(t).ok());
    EXPECT_EQ(sink->AckedSeq(1), 5u);
    EXPECT_EQ(sink->AckedSeq(2), 3u);
    EXPECT_EQ(sink->AckedSeq(7), 0u);
    ASSERT_TRUE(sink->Trim(2, UINT64_MAX).ok());
    EXPECT_EQ(sink->AckedSeq(2), 0u);
  }
  auto sink = Open(d.path());  // what recovery finds on disk is synced
  EXPECT_EQ(sink->AckedSeq(1), 5u);
}

}  // namespace
}  // namespace strata
