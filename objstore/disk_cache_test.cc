#include "objstore/disk_cache.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/mutex.h"
#include "common/temp_dir.h"
#include "objstore/cache_file.h"
#include "objstore/fault_injection.h"
#include "objstore/file_store.h"

namespace strata {
namespace {

namespace fs = std::filesystem;
namespace cf = cache_file;

constexpr uint64_t kChunk = 4096;

using testing::TempDir;

// Captures what spdlog's default logger writes while alive.
class LogCapture {
 public:
  LogCapture()
      : sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(out_)),
        old_(spdlog::default_logger()) {
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink_));
  }
  ~LogCapture() { spdlog::set_default_logger(old_); }
  std::string text() {
    sink_->flush();
    return out_.str();
  }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
  std::shared_ptr<spdlog::logger> old_;
};

// Counts the calls that reach the target and records every range read.
class CountingStore : public ObjectStoreWrapper {
 public:
  using ObjectStoreWrapper::ObjectStoreWrapper;

  Status Put(const std::string& k, std::string_view d) override {
    puts_++;
    return target()->Put(k, d);
  }
  Status PutIfAbsent(const std::string& k, std::string_view d) override {
    puts_++;
    return target()->PutIfAbsent(k, d);
  }
  Result<std::string> Get(const std::string& k) override {
    gets_++;
    return target()->Get(k);
  }
  Result<std::string> GetRange(const std::string& k, uint64_t off, uint64_t len) override {
    {
      MutexLock l(&mu_);
      ranges_.push_back({off, len});
    }
    return target()->GetRange(k, off, len);
  }
  Result<uint64_t> Size(const std::string& k) override {
    sizes_++;
    return target()->Size(k);
  }
  void Invalidate(const std::string& k) override {
    invalidates_++;
    target()->Invalidate(k);
  }

  // Calls that read an object: Get, GetRange and Size.
  uint64_t reads() const { return gets_ + sizes_ + range_calls(); }
  uint64_t range_calls() const {
    MutexLock l(&mu_);
    return ranges_.size();
  }
  std::vector<std::pair<uint64_t, uint64_t>> ranges() const {
    MutexLock l(&mu_);
    return ranges_;
  }
  void Reset() {
    MutexLock l(&mu_);
    ranges_.clear();
    puts_ = gets_ = sizes_ = invalidates_ = 0;
  }

  std::atomic<uint64_t> puts_{0}, gets_{0}, sizes_{0}, invalidates_{0};

 private:
  mutable Mutex mu_;
  std::vector<std::pair<uint64_t, uint64_t>> ranges_ GUARDED_BY(mu_);  // (offset, len)
};

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

bool IsLayer(const std::string& key) { return key.ends_with(".layer"); }

// All regular files under `dir`, by path.
std::map<std::string, uint64_t> FilesUnder(const std::string& dir) {
  std::map<std::string, uint64_t> out;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file()) out[e.path().string()] = e.file_size();
  }
  return out;
}

uint64_t BytesUnder(const std::string& dir) {
  uint64_t total = 0;
  for (const auto& [path, size] : FilesUnder(dir)) total += size;
  return total;
}

void FlipByte(const std::string& path, uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f) << path;
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c ^= 0x20;
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

void SetMtime(const std::string& path, int64_t seconds) {
  timespec times[2] = {{seconds, 0}, {seconds, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), times, 0), 0) << path;
}

// --- the file format ---

TEST(CacheFile, EncodeDecodeRoundTrip) {
  std::string payload = RandomBytes(1000, 1);
  std::string file = cf::Encode("b/1/x.layer", 3, 3 * 1000, 5000, payload);
  EXPECT_EQ(file.size(), cf::kHeaderSize + 11 + 1000);
  Result<cf::CacheFile> f = cf::Decode(file);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->key, "b/1/x.layer");
  EXPECT_EQ(f->index, 3u);
  EXPECT_EQ(f->offset, 3000u);
  EXPECT_EQ(f->object_size, 5000u);
  EXPECT_EQ(f->payload, payload);

  Result<cf::CacheFile> size = cf::Decode(cf::Encode("k.layer", cf::kSizeRecord, 0, 77, ""));
  ASSERT_TRUE(size.ok()) << size.status().ToString();
  EXPECT_EQ(size->index, cf::kSizeRecord);
  EXPECT_EQ(size->object_size, 77u);
}

TEST(CacheFile, EveryFlippedBitTruncationAndExtensionIsDetected) {
  const std::string good = cf::Encode("k.layer", 1, 64, 200, RandomBytes(64, 2));
  for (size_t i = 0; i < good.size(); i++) {
    for (int bit = 0; bit < 8; bit++) {
      std::string bad = good;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      Result<cf::CacheFile> f = cf::Decode(bad);
      ASSERT_FALSE(f.ok()) << "byte " << i << " bit " << bit;
      EXPECT_EQ(f.status().code(), Code::kCorruption);
    }
  }
  for (size_t n = 0; n < good.size(); n++) {
    EXPECT_FALSE(cf::Decode(good.substr(0, n)).ok()) << n;
  }
  EXPECT_FALSE(cf::Decode(good + "x").ok());
}

TEST(CacheFile, PayloadOutsideTheObjectIsRejected) {
  EXPECT_FALSE(cf::Decode(cf::Encode("k.layer", 1, 64, 100, std::string(64, 'x'))).ok());
  EXPECT_FALSE(cf::Decode(cf::Encode("k.layer", 0, 0, 100, "")).ok());
  EXPECT_FALSE(cf::Decode(cf::Encode("k.layer", cf::kSizeRecord, 0, 100, "x")).ok());
}

TEST(CacheFile, FileNamesRoundTripAndOnlyCanonicalNamesParse) {
  const uint64_t h = cf::KeyHash("branches/1/layers/0000000001.layer");
  for (uint64_t index : {uint64_t{0}, uint64_t{1}, uint64_t{0xabc}, cf::kSizeRecord}) {
    std::string name = cf::FileName(h, index);
    size_t slash = name.find('/');
    uint64_t hash = 0, idx = 0;
    ASSERT_TRUE(cf::ParseFileName(name.substr(0, slash), name.substr(slash + 1), &hash, &idx))
        << name;
    EXPECT_EQ(hash, h);
    EXPECT_EQ(idx, index);
  }
  uint64_t hash, idx;
  EXPECT_TRUE(cf::ParseFileName("01", "0123456789abcdef.1f", &hash, &idx));
  EXPECT_FALSE(cf::ParseFileName("01", "0123456789abcdef.01f", &hash, &idx));  // leading zero
  EXPECT_FALSE(cf::ParseFileName("01", "0123456789ABCDEF.1f", &hash, &idx));   // upper case
  EXPECT_FALSE(cf::ParseFileName("02", "0123456789abcdef.1f", &hash, &idx));   // wrong fan-out
  EXPECT_FALSE(cf::ParseFileName("01", "0123456789abcdef.", &hash, &idx));
  EXPECT_FALSE(cf::ParseFileName("01", "0123456789abcdef.sizes", &hash, &idx));
  EXPECT_FALSE(cf::ParseFileName("01", ".tmp-0123456789abcdef", &hash, &idx));
  EXPECT_FALSE(cf::ParseFileName("01", "0123456789abcdef.ffffffffffffffff", &hash, &idx));
}

// --- the cache ---

class DiskCacheTest : public ::testing::Test {
 protected:
  DiskCacheOptions Options(uint64_t capacity = 1 << 20) const {
    DiskCacheOptions o;
    o.dir = CacheDir();
    o.capacity_bytes = capacity;
    o.chunk_bytes = kChunk;
    o.cacheable = IsLayer;
    return o;
  }
  std::string CacheDir() const { return cache_root_.path() + "/l2"; }
  std::string ChunkPath(const std::string& key, uint64_t index) const {
    return CacheDir() + "/" + cf::FileName(cf::KeyHash(key), index);
  }
  // Writes a random object straight into the store, past any cache.
  std::string Source(const std::string& key, size_t size, uint64_t seed = 7) {
    std::string data = RandomBytes(size, seed);
    EXPECT_TRUE(files_.Put(key, data).ok());
    return data;
  }
  // Bytes of one cache file of `key` with `payload` bytes.
  static uint64_t FileBytes(const std::string& key, uint64_t payload) {
    return cf::kHeaderSize + key.size() + payload;
  }

  TempDir store_root_;
  TempDir cache_root_;
  FileObjectStore files_{store_root_.path()};
  CountingStore counting_{&files_};
};

TEST_F(DiskCacheTest, MissThenHitMakesNoTargetCalls) {
  const std::string key = "b/1/a.layer";
  const std::string data = Source(key, 10000);
  DiskCachedStore cache(&counting_, Options());

  Result<std::string> r = cache.GetRange(key, 100, 5000);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, data.substr(100, 5000));
  EXPECT_EQ(counting_.sizes_, 1u);
  ASSERT_EQ(counting_.ranges().size(), 1u);  // chunks 0 and 1 in one call
  EXPECT_EQ(counting_.ranges()[0], std::make_pair(uint64_t{0}, 2 * kChunk));
  DiskCacheStats s = cache.Stats();
  EXPECT_EQ(s.misses, 2u);
  EXPECT_EQ(s.hits, 0u);
  EXPECT_EQ(s.fetched_bytes, 2 * kChunk);
  EXPECT_EQ(s.chunks, 2u);
  EXPECT_EQ(s.bytes, 2 * FileBytes(key, kChunk) + FileBytes(key, 0));
  EXPECT_EQ(s.bytes, BytesUnder(CacheDir()));

  counting_.Reset();
  r = cache.GetRange(key, 100, 5000);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, data.substr(100, 5000));
  EXPECT_EQ(counting_.reads(), 0u);
  s = cache.Stats();
  EXPECT_EQ(s.hits, 2u);
  EXPECT_EQ(s.misses, 2u);
  EXPECT_EQ(s.hit_bytes, 5000u);
  EXPECT_EQ(s.fetched_bytes, 2 * kChunk);
}

TEST_F(DiskCacheTest, RangesAcrossChunkBoundariesAndTheLastPartialChunk) {
  const std::string key = "b/1/a.layer";
  const uint64_t size = 4 * kChunk + 1000;
  const std::string data = Source(key, size);
  DiskCachedStore cache(&counting_, Options());
  const std::vector<std::pair<uint64_t, uint64_t>> ranges = {
      {0, 1},           {kChunk - 1, 2},          {kChunk, kChunk}, {kChunk - 1, kChunk + 2},
      {size - 1001, 1}, {size - 1000, 1000},      {size - 1, 1},    {3 * kChunk + 5, 1100},
      {0, size},        {kChunk + 7, 3 * kChunk}, {size, 0},        {17, 0}};
  for (int pass = 0; pass < 2; pass++) {  // cold, then warm
    for (auto [off, len] : ranges) {
      Result<std::string> r = cache.GetRange(key, off, len);
      ASSERT_TRUE(r.ok()) << off << "+" << len << ": " << r.status().ToString();
      EXPECT_EQ(*r, data.substr(off, len)) << off << "+" << len;
    }
  }
  // The last chunk is cached with its 1000 bytes, not padded to a chunk.
  EXPECT_EQ(fs::file_size(ChunkPath(key, 4)), FileBytes(key, 1000));
  EXPECT_EQ(cache.Stats().fetched_bytes, size);  // every byte fetched once
}

TEST_F(DiskCacheTest, GetOfAWholeObjectAndOfAnEmptyOne) {
  const std::string key = "b/1/a.layer";
  const std::string data = Source(key, 3 * kChunk + 10);
  Source("b/1/empty.layer", 0);
  DiskCachedStore cache(&counting_, Options());
  Result<std::string> r = cache.Get(key);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, data);
  EXPECT_EQ(counting_.range_calls(), 1u);
  EXPECT_EQ(counting_.gets_, 0u);
  counting_.Reset();
  r = cache.Get(key);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, data);
  EXPECT_EQ(counting_.reads(), 0u);

  for (int pass = 0; pass < 2; pass++) {
    Result<std::string> e = cache.Get("b/1/empty.layer");
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    EXPECT_EQ(*e, "");
  }
  EXPECT_EQ(counting_.sizes_, 1u);
}

TEST_F(DiskCacheTest, SizeIsServedFromTheCache) {
  const std::string key = "b/1/a.layer";
  Source(key, 12345);
  DiskCachedStore cache(&counting_, Options());
  for (int i = 0; i < 3; i++) {
    Result<uint64_t> size = cache.Size(key);
    ASSERT_TRUE(size.ok());
    EXPECT_EQ(*size, 12345u);
  }
  ASSERT_TRUE(cache.GetRange(key, 0, 10).ok());
  EXPECT_EQ(counting_.sizes_, 1u);
}

TEST_F(DiskCacheTest, ARangePastTheEndIsInvalid) {
  const std::string key = "b/1/a.layer";
  Source(key, 5000);
  DiskCachedStore cache(&counting_, Options());
  EXPECT_EQ(cache.GetRange(key, 4999, 2).status().code(), Code::kInvalid);
  EXPECT_EQ(cache.GetRange(key, 5001, 0).status().code(), Code::kInvalid);
  EXPECT_EQ(cache.GetRange(key, 1, ~uint64_t{0}).status().code(), Code::kInvalid);
  Result<std::string> r = cache.GetRange(key, 5000, 0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "");
}

TEST_F(DiskCacheTest, EachRunOfMissingChunksIsFetchedWithOneGetRange) {
  const std::string key = "b/1/a.layer";
  const std::string data = Source(key, 8 * kChunk);
  DiskCachedStore cache(&counting_, Options());
  ASSERT_TRUE(cache.GetRange(key, kChunk, 1).ok());
  ASSERT_TRUE(cache.GetRange(key, 3 * kChunk + 100, 200).ok());
  counting_.Reset();
  Result<std::string> r = cache.GetRange(key, 0, 8 * kChunk);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, data);
  std::vector<std::pair<uint64_t, uint64_t>> expected = {
      {0, kChunk}, {2 * kChunk, kChunk}, {4 * kChunk, 4 * kChunk}};
  EXPECT_EQ(counting_.ranges(), expected);
  EXPECT_EQ(cache.Stats().fetched_bytes, 8 * kChunk);
}

TEST_F(DiskCacheTest, EvictionKeepsBytesUnderTheCapAndDropsTheLeastRecentlyUsed) {
  const std::vector<std::string> keys = {"b/1/a.layer", "b/1/b.layer", "b/1/c.layer"};
  std::vector<std::string> data;
  for (size_t i = 0; i < keys.size(); i++) data.push_back(Source(keys[i], kChunk, i));
  // Room for the size record and the chunk of two objects, not three.
  const uint64_t per_object = FileBytes(keys[0], kChunk) + FileBytes(keys[0], 0);
  DiskCachedStore cache(&counting_, Options(2 * per_object + 100));
  auto read = [&](size_t i) {
    Result<std::string> r = cache.Get(keys[i]);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(*r, data[i]);
    DiskCacheStats s = cache.Stats();
    EXPECT_LE(s.bytes, s.capacity);
    EXPECT_EQ(s.bytes, BytesUnder(CacheDir()));
  };
  read(0);
  read(1);
  read(0);  // a is now more recent than b
  read(2);  // evicts b's two files
  EXPECT_EQ(cache.Stats().evictions, 2u);
  EXPECT_FALSE(fs::exists(ChunkPath(keys[1], 0)));
  EXPECT_TRUE(fs::exists(ChunkPath(keys[0], 0)));
  counting_.Reset();
  read(0);
  read(2);
  EXPECT_EQ(counting_.reads(), 0u);
  read(1);
  EXPECT_GT(counting_.reads(), 0u);
}

TEST_F(DiskCacheTest, AChunkLargerThanTheWholeCapIsNotKept) {
  const std::string key = "b/1/a.layer";
  const std::string data = Source(key, kChunk);
  DiskCachedStore cache(&counting_, Options(kChunk));
  for (int i = 0; i < 2; i++) {
    Result<std::string> r = cache.Get(key);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, data);
  }
  EXPECT_EQ(cache.Stats().chunks, 0u);
  EXPECT_EQ(counting_.range_calls(), 2u);
}

TEST_F(DiskCacheTest, AReopenedCacheServesHitsWithoutTouchingTheTarget) {
  const std::string a = "b/1/a.layer", b = "b/2/b.layer";
  const std::string da = Source(a, 5 * kChunk + 3, 1), db = Source(b, 2 * kChunk, 2);
  DiskCacheStats before;
  {
    DiskCachedStore cache(&counting_, Options());
    ASSERT_TRUE(cache.Get(a).ok());
    ASSERT_TRUE(cache.GetRange(b, 10, kChunk).ok());
    before = cache.Stats();
  }
  counting_.Reset();
  DiskCachedStore cache(&counting_, Options());
  DiskCacheStats after = cache.Stats();
  EXPECT_EQ(after.bytes, before.bytes);
  EXPECT_EQ(after.chunks, before.chunks);
  Result<uint64_t> size = cache.Size(a);
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, da.size());
  Result<std::string> r = cache.Get(a);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, da);
  r = cache.GetRange(b, 10, kChunk);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, db.substr(10, kChunk));
  EXPECT_EQ(counting_.reads(), 0u);
  EXPECT_EQ(cache.Stats().corrupt, 0u);
}

TEST_F(DiskCacheTest, AReopenedCacheEvictsInMtimeOrder) {
  const std::vector<std::string> keys = {"b/1/a.layer", "b/1/b.layer", "b/1/c.layer",
                                         "b/1/d.layer"};
  std::vector<std::string> data;
  for (size_t i = 0; i < keys.size(); i++) data.push_back(Source(keys[i], kChunk, i));
  const uint64_t per_object = FileBytes(keys[0], kChunk) + FileBytes(keys[0], 0);
  {
    DiskCachedStore cache(&counting_, Options());
    for (size_t i = 0; i < 3; i++) ASSERT_TRUE(cache.Get(keys[i]).ok());
  }
  // b is the oldest, then c, then a, whatever order they were written in.
  const int64_t now = time(nullptr);
  const int64_t mtime[3] = {now - 100, now - 3000, now - 2000};
  for (size_t i = 0; i < 3; i++) {
    SetMtime(ChunkPath(keys[i], 0), mtime[i]);
    SetMtime(ChunkPath(keys[i], cf::kSizeRecord), mtime[i]);
  }
  DiskCachedStore cache(&counting_, Options(3 * per_object + 100));
  ASSERT_TRUE(cache.Get(keys[3]).ok());  // evicts b
  counting_.Reset();
  ASSERT_TRUE(cache.Get(keys[0]).ok());
  ASSERT_TRUE(cache.Get(keys[2]).ok());
  EXPECT_EQ(counting_.reads(), 0u);
  Result<std::string> r = cache.Get(keys[1]);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, data[1]);
  EXPECT_GT(counting_.reads(), 0u);
}

TEST_F(DiskCacheTest, OpeningRemovesTempFilesAndJunkAndTrimsToTheCap) {
  const std::string key = "b/1/a.layer";
  const std::string data = Source(key, 6 * kChunk);
  {
    DiskCachedStore cache(&counting_, Options());
    ASSERT_TRUE(cache.Get(key).ok());
  }
  const std::string sub = CacheDir() + "/" + cf::FileName(cf::KeyHash(key), 0).substr(0, 2);
  std::ofstream(sub + "/.tmp-0123456789abcdef") << "torn";
  std::ofstream(sub + "/not-a-cache-file") << "junk";
  std::ofstream(CacheDir() + "/ab/0123456789abcdef.size") << "short";  // wrong fan-out, short
  fs::create_directories(CacheDir() + "/00");
  std::ofstream(CacheDir() + "/00/" + cf::FileName(0x00aa, 1).substr(3)) << "too short";
  std::ofstream(CacheDir() + "/README") << "not ours: left alone";
  const uint64_t cap = 3 * FileBytes(key, kChunk);
  DiskCachedStore cache(&counting_, Options(cap));
  DiskCacheStats s = cache.Stats();
  EXPECT_LE(s.bytes, cap);
  EXPECT_EQ(s.bytes + fs::file_size(CacheDir() + "/README"), BytesUnder(CacheDir()));
  EXPECT_EQ(s.evictions, 7u - 3u);  // 6 chunks and the size record; 3 chunks fit
  EXPECT_TRUE(fs::exists(CacheDir() + "/README"));
  EXPECT_FALSE(fs::exists(sub + "/.tmp-0123456789abcdef"));
  EXPECT_FALSE(fs::exists(sub + "/not-a-cache-file"));
  Result<std::string> r = cache.Get(key);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, data);
}

TEST_F(DiskCacheTest, AFlippedByteInAChunkIsDetectedCountedAndRefetched) {
  const std::string key = "b/1/a.layer";
  const std::string data = Source(key, 3 * kChunk);
  DiskCachedStore cache(&counting_, Options());
  ASSERT_TRUE(cache.Get(key).ok());
  // One byte in the payload of chunk 1, one in the header of chunk 2.
  FlipByte(ChunkPath(key, 1), cf::kHeaderSize + key.size() + 100);
  FlipByte(ChunkPath(key, 2), cf::kHeaderOffset);
  counting_.Reset();
  LogCapture log;
  Result<std::string> r = cache.Get(key);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, data);
  EXPECT_EQ(cache.Stats().corrupt, 2u);
  // Each one is logged, naming the file and the key.
  const std::string text = log.text();
  EXPECT_NE(text.find(ChunkPath(key, 1) + " (key " + key + ") is corrupt: cache file: payload"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(ChunkPath(key, 2) + " (key " + key + ") is corrupt: cache file: header"),
            std::string::npos)
      << text;
  std::vector<std::pair<uint64_t, uint64_t>> expected = {{kChunk, 2 * kChunk}};
  EXPECT_EQ(counting_.ranges(), expected);
  // Rewritten: the next read is a clean hit.
  counting_.Reset();
  r = cache.Get(key);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, data);
  EXPECT_EQ(counting_.reads(), 0u);
  EXPECT_EQ(cache.Stats().corrupt, 2u);
  EXPECT_EQ(cache.Stats().bytes, BytesUnder(CacheDir()));
}

TEST_F(DiskCacheTest, AChunkOfAnotherKeyRenamedIntoPlaceIsDetected) {
  const std::string a = "b/1/a.layer", b = "b/1/b.layer";
  const std::string da = Source(a, kChunk, 1), db = Source(b, kChunk, 2);
  DiskCachedStore cache(&counting_, Options());
  ASSERT_TRUE(cache.Get(a).ok());
  ASSERT_TRUE(cache.Get(b).ok());
  ASSERT_EQ(rename(ChunkPath(a, 0).c_str(), ChunkPath(b, 0).c_str()), 0);
  Result<std::string> r = cache.Get(b);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, db);
  EXPECT_EQ(cache.Stats().corrupt, 1u);
  // a's chunk is gone from disk: a missing file is a plain miss, not corruption.
  r = cache.Get(a);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, da);
  EXPECT_EQ(cache.Stats().corrupt, 1u);
  EXPECT_EQ(cache.Stats().bytes, BytesUnder(CacheDir()));
}

TEST_F(DiskCacheTest, TornChunksAndSizeRecordsAreDetected) {
  const std::string key = "b/1/a.layer";
  const std::string data = Source(key, 2 * kChunk);
  {
    DiskCachedStore cache(&counting_, Options());
    ASSERT_TRUE(cache.Get(key).ok());
  }
  fs::resize_file(ChunkPath(key, 0), cf::kHeaderSize + 10);
  FlipByte(ChunkPath(key, cf::kSizeRecord), cf::kHeaderObjectSize);
  counting_.Reset();
  DiskCachedStore cache(&counting_, Options());
  Result<uint64_t> size = cache.Size(key);
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, data.size());
  EXPECT_EQ(counting_.sizes_, 1u);
  Result<std::string> r = cache.Get(key);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, data);
  EXPECT_EQ(cache.Stats().corrupt, 2u);
}

TEST_F(DiskCacheTest, InvalidateDropsEveryFileOfTheKeyAndForwards) {
  const std::string a = "b/1/a.layer", b = "b/1/b.layer";
  const std::string da = Source(a, 3 * kChunk, 1);
  Source(b, kChunk, 2);
  DiskCachedStore cache(&counting_, Options());
  ASSERT_TRUE(cache.Get(a).ok());
  ASSERT_TRUE(cache.Get(b).ok());
  cache.Invalidate(a);
  EXPECT_EQ(counting_.invalidates_, 1u);
  for (uint64_t i : {uint64_t{0}, uint64_t{1}, uint64_t{2}, cf::kSizeRecord}) {
    EXPECT_FALSE(fs::exists(ChunkPath(a, i))) << i;
  }
  EXPECT_TRUE(fs::exists(ChunkPath(b, 0)));
  EXPECT_EQ(cache.Stats().chunks, 1u);
  EXPECT_EQ(cache.Stats().bytes, BytesUnder(CacheDir()));
  counting_.Reset();
  Result<std::string> r = cache.Get(a);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, da);
  EXPECT_EQ(counting_.sizes_, 1u);
  EXPECT_EQ(counting_.range_calls(), 1u);
}

TEST_F(DiskCacheTest, DeleteDropsEveryFileOfTheKey) {
  const std::string key = "b/1/a.layer";
  Source(key, 2 * kChunk);
  DiskCachedStore cache(&counting_, Options());
  ASSERT_TRUE(cache.Get(key).ok());
  ASSERT_TRUE(cache.Delete(key).ok());
  EXPECT_EQ(BytesUnder(CacheDir()), 0u);
  EXPECT_EQ(cache.Stats().bytes, 0u);
  EXPECT_EQ(cache.Stats().chunks, 0u);
  EXPECT_TRUE(cache.Size(key).status().IsNotFound());
  EXPECT_TRUE(cache.Get(key).status().IsNotFound());
  EXPECT_TRUE(cache.GetRange(key, 0, 1).status().IsNotFound());
}

TEST_F(DiskCacheTest, KeysThatAreNotCacheablePassStraightThrough) {
  DiskCachedStore cache(&counting_, Options());
  const std::string key = "branches/1/manifest/00000000000000000001.json";
  ASSERT_TRUE(cache.Put(key, "v1").ok());
  ASSERT_TRUE(cache.Put(key, "version 2").ok());  // overwritable: must never be cached
  for (int i = 0; i < 2; i++) {
    Result<std::string> r = cache.Get(key);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, "version 2");
    r = cache.GetRange(key, 8, 1);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, "2");
    ASSERT_TRUE(cache.Size(key).ok());
  }
  EXPECT_EQ(counting_.gets_, 2u);
  EXPECT_EQ(counting_.sizes_, 2u);
  EXPECT_EQ(counting_.range_calls(), 2u);
  EXPECT_EQ(BytesUnder(CacheDir()), 0u);
  DiskCacheStats s = cache.Stats();
  EXPECT_EQ(s.hits + s.misses + s.bytes, 0u);
}

TEST_F(DiskCacheTest, PutPopulatesTheCache) {
  DiskCachedStore cache(&counting_, Options());
  const std::string a = "b/1/a.layer", b = "b/1/b.layer";
  const std::string da = RandomBytes(3 * kChunk + 1, 1), db = RandomBytes(kChunk, 2);
  ASSERT_TRUE(cache.Put(a, da).ok());
  ASSERT_TRUE(cache.PutIfAbsent(b, db).ok());
  EXPECT_EQ(cache.PutIfAbsent(b, "other").code(), Code::kExists);
  EXPECT_EQ(cache.Stats().chunks, 5u);
  counting_.Reset();
  Result<std::string> r = cache.Get(a);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, da);
  r = cache.GetRange(b, 5, 10);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, db.substr(5, 10));
  EXPECT_EQ(counting_.reads(), 0u);
  EXPECT_EQ(cache.Stats().fetched_bytes, 0u);
}

TEST_F(DiskCacheTest, PutWithoutPopulateAndFailedPutsCacheNothing) {
  DiskCacheOptions o = Options();
  o.populate_on_put = false;
  {
    DiskCachedStore cache(&counting_, o);
    ASSERT_TRUE(cache.Put("b/1/a.layer", RandomBytes(kChunk, 1)).ok());
    EXPECT_EQ(cache.Stats().bytes, 0u);
  }
  FaultInjectingStore faulty(&files_, FaultConfig{.fail_all = true});
  DiskCachedStore cache(&faulty, Options());
  EXPECT_FALSE(cache.Put("b/1/b.layer", RandomBytes(kChunk, 2)).ok());
  EXPECT_FALSE(cache.PutIfAbsent("b/1/c.layer", RandomBytes(kChunk, 3)).ok());
  EXPECT_EQ(cache.Stats().bytes, 0u);
  EXPECT_EQ(BytesUnder(CacheDir()), 0u);
}

TEST_F(DiskCacheTest, ErrorsOfTheTargetPropagateUnchanged) {
  const std::string key = "b/1/a.layer";
  const std::string data = Source(key, 2 * kChunk);
  FaultInjectingStore faulty(&files_);
  DiskCachedStore cache(&faulty, Options());
  EXPECT_TRUE(cache.Size("b/1/missing.layer").status().IsNotFound());
  EXPECT_TRUE(cache.Get("b/1/missing.layer").status().IsNotFound());
  EXPECT_TRUE(cache.GetRange("b/1/missing.layer", 0, 1).status().IsNotFound());

  ASSERT_TRUE(cache.Size(key).ok());  // the size is cached; the chunks are not
  faulty.set_config(FaultConfig{.fail_all = true});
  Status direct = faulty.GetRange(key, 0, kChunk).status();
  Status via_cache = cache.GetRange(key, 0, 10).status();
  EXPECT_EQ(via_cache.code(), direct.code());
  EXPECT_EQ(via_cache.message(), direct.message());
  EXPECT_TRUE(via_cache.retryable());
  EXPECT_EQ(cache.Get(key).status().code(), Code::kIO);
  EXPECT_EQ(cache.Stats().chunks, 0u);

  faulty.set_config(FaultConfig{});
  Result<std::string> r = cache.Get(key);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, data);
}

TEST_F(DiskCacheTest, ACacheDirThatIsAFileDegradesToPassThrough) {
  const std::string key = "b/1/a.layer";
  const std::string data = Source(key, 2 * kChunk + 5);
  std::ofstream(CacheDir()) << "a file where the cache directory should be";
  DiskCachedStore cache(&counting_, Options());
  for (int i = 0; i < 2; i++) {
    Result<std::string> r = cache.Get(key);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(*r, data);
  }
  DiskCacheStats s = cache.Stats();
  EXPECT_GE(s.write_errors, 6u);  // 3 chunks and a size record per pass
  EXPECT_EQ(s.bytes, 0u);
  EXPECT_EQ(counting_.range_calls(), 2u);
}

TEST_F(DiskCacheTest, ACacheDirBrokenWhileRunningDegradesToPassThrough) {
  const std::string a = "b/1/a.layer", b = "b/1/b.layer";
  const std::string da = Source(a, 2 * kChunk, 1), db = Source(b, 2 * kChunk, 2);
  DiskCachedStore cache(&counting_, Options());
  ASSERT_TRUE(cache.Get(a).ok());
  fs::remove_all(CacheDir());
  std::ofstream(CacheDir()) << "not a directory any more";
  for (int i = 0; i < 2; i++) {
    Result<std::string> r = cache.Get(a);  // cached files unreadable
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(*r, da);
    r = cache.Get(b);  // new files unwritable
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(*r, db);
  }
  DiskCacheStats s = cache.Stats();
  EXPECT_GT(s.write_errors, 0u);
  EXPECT_GT(s.read_errors, 0u);
  EXPECT_EQ(s.chunks, 0u);
  EXPECT_EQ(s.corrupt, 0u);
}

TEST_F(DiskCacheTest, ManyThreadsReadTheRightBytesAndEachChunkIsFetchedOnce) {
  const std::string key = "b/1/a.layer";
  const uint64_t chunks = 64;
  const uint64_t size = chunks * kChunk - 123;
  const std::string data = Source(key, size);
  // Latency widens the window in which readers of one chunk overlap.
  FaultInjectingStore slow(&counting_, FaultConfig{.latency = std::chrono::microseconds(300)});
  DiskCachedStore cache(&slow, Options(64 << 20));
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; t++) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(t);
      for (int i = 0; i < 100; i++) {
        uint64_t off = rng() % size;
        uint64_t len = std::min<uint64_t>(size - off, 1 + rng() % (3 * kChunk));
        Result<std::string> r = cache.GetRange(key, off, len);
        if (!r.ok() || *r != data.substr(off, len)) wrong++;
      }
      Result<std::string> r = cache.Get(key);
      if (!r.ok() || *r != data) wrong++;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  std::vector<int> fetches(chunks, 0);
  for (auto [off, len] : counting_.ranges()) {
    ASSERT_EQ(off % kChunk, 0u);
    for (uint64_t c = off / kChunk; c * kChunk < off + len; c++) fetches[c]++;
  }
  for (uint64_t c = 0; c < chunks; c++) EXPECT_EQ(fetches[c], 1) << "chunk " << c;
  DiskCacheStats s = cache.Stats();
  EXPECT_EQ(s.fetched_bytes, size);
  EXPECT_EQ(s.chunks, chunks);
  EXPECT_EQ(s.bytes, BytesUnder(CacheDir()));
}

TEST_F(DiskCacheTest, ConcurrentReadsEvictionsAndInvalidationsStayCorrect) {
  std::vector<std::string> keys, data;
  for (int i = 0; i < 4; i++) {
    keys.push_back("b/" + std::to_string(i) + "/x.layer");
    data.push_back(Source(keys.back(), 16 * kChunk + 77 * i, i));
  }
  const uint64_t cap = 20 * FileBytes(keys[0], kChunk);
  DiskCachedStore cache(&counting_, Options(cap));
  std::atomic<int> wrong{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> readers;
  for (int t = 0; t < 8; t++) {
    readers.emplace_back([&, t] {
      std::mt19937_64 rng(100 + t);
      for (int i = 0; i < 300; i++) {
        const size_t k = rng() % keys.size();
        const uint64_t size = data[k].size();
        uint64_t off = rng() % size;
        uint64_t len = std::min<uint64_t>(size - off, 1 + rng() % (2 * kChunk));
        Result<std::string> r = cache.GetRange(keys[k], off, len);
        if (!r.ok() || *r != data[k].substr(off, len)) wrong++;
        if (cache.Stats().bytes > cap) wrong++;
      }
    });
  }
  std::thread invalidator([&] {
    for (int i = 0; !stop; i++) {
      cache.Invalidate(keys[i % keys.size()]);
      std::this_thread::yield();
    }
  });
  for (auto& t : readers) t.join();
  stop = true;
  invalidator.join();
  EXPECT_EQ(wrong.load(), 0);
  DiskCacheStats s = cache.Stats();
  EXPECT_LE(s.bytes, cap);
  EXPECT_EQ(s.bytes, BytesUnder(CacheDir()));
  EXPECT_EQ(s.corrupt, 0u);
  for (const auto& [path, bytes] : FilesUnder(CacheDir())) {
    EXPECT_EQ(fs::path(path).filename().string().rfind(".tmp-", 0), std::string::npos) << path;
  }
}

}  // namespace
}  // namespace strata
