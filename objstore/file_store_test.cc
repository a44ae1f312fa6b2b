#include "objstore/file_store.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "common/fd_util.h"
#include "common/mutex.h"
#include "common/temp_dir.h"
#include "objstore/object_store.h"

namespace strata {
namespace {

namespace fs = std::filesystem;

using testing::TempDir;

// Every file under `root` whose name starts with ".tmp-".
std::vector<std::string> TempFiles(const std::string& root) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.path().filename().string().rfind(".tmp-", 0) == 0) out.push_back(e.path());
  }
  return out;
}

class FileStoreTest : public ::testing::Test {
 protected:
  TempDir dir_;
  FileObjectStore store_{dir_.path()};
};

TEST_F(FileStoreTest, PutGetRoundtrip) {
  std::string data("bin\0ary\xff data", 13);
  ASSERT_TRUE(store_.Put("branches/1/layers/0001.layer", data).ok());
  auto got = store_.Get("branches/1/layers/0001.layer");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, data);
  auto size = store_.Size("branches/1/layers/0001.layer");
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, data.size());

  ASSERT_TRUE(store_.Put("empty", "").ok());
  EXPECT_EQ(*store_.Get("empty"), "");
  EXPECT_EQ(*store_.Size("empty"), 0u);
  EXPECT_TRUE(TempFiles(dir_.path()).empty());
}

TEST_F(FileStoreTest, OverwriteIsSeenByAllReads) {
  ASSERT_TRUE(store_.Put("m", "version one").ok());
  // Warm the fd cache with the old inode.
  EXPECT_EQ(*store_.GetRange("m", 0, 7), "version");
  ASSERT_TRUE(store_.Put("m", "v2").ok());
  EXPECT_EQ(*store_.Get("m"), "v2");
  EXPECT_EQ(*store_.GetRange("m", 0, 2), "v2");
  EXPECT_EQ(*store_.Size("m"), 2u);
  EXPECT_FALSE(store_.GetRange("m", 0, 7).ok());
}

TEST_F(FileStoreTest, MissingObjectsAreNotFoundAndNamed) {
  auto get = store_.Get("branches/9/manifest");
  EXPECT_EQ(get.status().code(), Code::kNotFound);
  EXPECT_NE(get.status().message().find("branches/9/manifest"), std::string::npos);
  EXPECT_NE(get.status().message().find(dir_.path()), std::string::npos);
  EXPECT_EQ(store_.GetRange("nope", 0, 1).status().code(), Code::kNotFound);
  EXPECT_NE(store_.GetRange("nope", 0, 1).status().message().find("nope"), std::string::npos);
  EXPECT_EQ(store_.Size("nope").status().code(), Code::kNotFound);
  // A directory is not an object.
  ASSERT_TRUE(store_.Put("d/x", "1").ok());
  EXPECT_EQ(store_.Get("d").status().code(), Code::kNotFound);
  EXPECT_EQ(store_.Size("d").status().code(), Code::kNotFound);
  EXPECT_EQ(store_.GetRange("d", 0, 0).status().code(), Code::kNotFound);
}

TEST_F(FileStoreTest, PutIfAbsent) {
  ASSERT_TRUE(store_.PutIfAbsent("a/k", "first").ok());
  Status s = store_.PutIfAbsent("a/k", "second");
  EXPECT_EQ(s.code(), Code::kExists);
  EXPECT_NE(s.message().find("a/k"), std::string::npos);
  EXPECT_EQ(*store_.Get("a/k"), "first");
  EXPECT_TRUE(TempFiles(dir_.path()).empty());
}

TEST_F(FileStoreTest, PutIfAbsentRaceHasExactlyOneWinner) {
  constexpr int kKeys = 300;
  std::vector<int> winner(kKeys, -1);
  std::vector<int> wins(kKeys, 0);
  std::atomic<int> unexpected{0};
  Mutex mu;
  std::latch start(2);
  auto payload = [](int t, int k) {
    return "thread " + std::to_string(t) + " key " + std::to_string(k) + std::string(1000, 'a' + t);
  };
  auto run = [&](int t) {
    start.arrive_and_wait();
    for (int k = 0; k < kKeys; k++) {
      Status s = store_.PutIfAbsent("race/" + std::to_string(k % 7) + "/" + std::to_string(k),
                                    payload(t, k));
      MutexLock l(&mu);
      if (s.ok()) {
        wins[k]++;
        winner[k] = t;
      } else if (s.code() != Code::kExists) {
        unexpected++;
      }
    }
  };
  std::thread a(run, 0), b(run, 1);
  a.join();
  b.join();
  EXPECT_EQ(unexpected.load(), 0);
  for (int k = 0; k < kKeys; k++) {
    ASSERT_EQ(wins[k], 1) << "key " << k;
    EXPECT_EQ(*store_.Get("race/" + std::to_string(k % 7) + "/" + std::to_string(k)),
              payload(winner[k], k));
  }
  EXPECT_TRUE(TempFiles(dir_.path()).empty());
}

TEST_F(FileStoreTest, GetRangeBounds) {
  std::string data;
  for (int i = 0; i < 100; i++) data.push_back(static_cast<char>(i));
  ASSERT_TRUE(store_.Put("obj", data).ok());
  EXPECT_EQ(*store_.GetRange("obj", 0, 100), data);
  EXPECT_EQ(*store_.GetRange("obj", 10, 5), data.substr(10, 5));
  EXPECT_EQ(*store_.GetRange("obj", 100, 0), "");
  EXPECT_EQ(store_.GetRange("obj", 99, 2).status().code(), Code::kInvalid);
  EXPECT_EQ(store_.GetRange("obj", 101, 0).status().code(), Code::kInvalid);
  EXPECT_EQ(store_.GetRange("obj", UINT64_MAX, 2).status().code(), Code::kInvalid);
  EXPECT_EQ(store_.GetRange("obj", 2, UINT64_MAX).status().code(), Code::kInvalid);
  EXPECT_NE(store_.GetRange("obj", 99, 2).status().message().find("obj"), std::string::npos);
}

TEST(FileStoreCacheTest, FdCacheIsBoundedAndCorrect) {
  TempDir dir;
  FileObjectStore store(dir.path(), /*fd_cache_capacity=*/4);
  for (int i = 0; i < 10; i++)
    ASSERT_TRUE(store.Put("k" + std::to_string(i), "v" + std::to_string(i)).ok());
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < 10; i++) {
      EXPECT_EQ(*store.GetRange("k" + std::to_string(i), 0, 2), "v" + std::to_string(i));
      EXPECT_LE(store.CachedFdCount(), 4u);
    }
  }
  ASSERT_TRUE(store.Delete("k9").ok());
  EXPECT_EQ(store.GetRange("k9", 0, 2).status().code(), Code::kNotFound);
}

TEST_F(FileStoreTest, ListPrefixesNestedDirsAndHiddenFiles) {
  std::vector<std::string> keys = {"a",
                                   "ab/c",
                                   "ab/d/e",
                                   "b/x",
                                   "branches/1/m",
                                   "branches/10/m",
                                   "branches/2/layers/1",
                                   "branches/2/layers/2"};
  for (const auto& k : keys) ASSERT_TRUE(store_.Put(k, k).ok());
  // The lease file of a daemon from before shared stores is not an object.
  ASSERT_TRUE(UniqueFd(open((dir_.path() + "/LOCK").c_str(), O_CREAT | O_WRONLY, 0644)).valid());
  // Leftovers of crashed uploads must never look like objects.
  for (const char* tmp : {".tmp-0123456789abcdef", "ab/.tmp-dead", "branches/2/layers/.tmp-x"}) {
    const UniqueFd fd(open((dir_.path() + "/" + tmp).c_str(), O_CREAT | O_WRONLY, 0644));
    ASSERT_TRUE(fd.valid());
  }

  auto all = store_.List("");
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(*all, sorted);

  using V = std::vector<std::string>;
  EXPECT_EQ(*store_.List("branches/1"), (V{"branches/1/m", "branches/10/m"}));
  EXPECT_EQ(*store_.List("branches/1/"), (V{"branches/1/m"}));
  EXPECT_EQ(*store_.List("branches/2/layers/"), (V{"branches/2/layers/1", "branches/2/layers/2"}));
  EXPECT_EQ(*store_.List("a"), (V{"a", "ab/c", "ab/d/e"}));
  EXPECT_EQ(*store_.List("ab/d"), (V{"ab/d/e"}));
  EXPECT_EQ(*store_.List("ab/d/e"), (V{"ab/d/e"}));
  EXPECT_TRUE(store_.List("LO")->empty());
  EXPECT_TRUE(store_.List(".tmp")->empty());
  EXPECT_TRUE(store_.List("zzz")->empty());
  EXPECT_TRUE(store_.List("no/such/dir/")->empty());
  EXPECT_EQ(store_.List("../").status().code(), Code::kInvalid);
  EXPECT_EQ(store_.List("/etc").status().code(), Code::kInvalid);
}

TEST(FileStoreListTest, EmptyOrMissingRoot) {
  TempDir dir;
  FileObjectStore store(dir.path() + "/not/yet");
  auto l = store.List("");
  ASSERT_TRUE(l.ok());
  EXPECT_TRUE(l->empty());
  // The root is made on first write.
  ASSERT_TRUE(store.Put("x", "1").ok());
  EXPECT_EQ(*store.List(""), std::vector<std::string>{"x"});
}

TEST_F(FileStoreTest, DeleteIsIdempotentAndPrunesEmptyDirs) {
  EXPECT_TRUE(store_.Delete("never/was").ok());
  ASSERT_TRUE(store_.Put("x/y/z", "1").ok());
  ASSERT_TRUE(store_.Put("x/keep", "2").ok());
  ASSERT_TRUE(store_.Delete("x/y/z").ok());
  EXPECT_EQ(store_.Get("x/y/z").status().code(), Code::kNotFound);
  EXPECT_TRUE(store_.Delete("x/y/z").ok());
  EXPECT_FALSE(fs::exists(dir_.path() + "/x/y"));
  EXPECT_TRUE(fs::exists(dir_.path() + "/x/keep"));
  ASSERT_TRUE(store_.Delete("x/keep").ok());
  EXPECT_FALSE(fs::exists(dir_.path() + "/x"));
  EXPECT_TRUE(fs::exists(dir_.path()));
  // The pruned directories come back on the next write.
  ASSERT_TRUE(store_.Put("x/y/z", "3").ok());
  EXPECT_EQ(*store_.Get("x/y/z"), "3");
}

TEST_F(FileStoreTest, ConcurrentPutAndDeleteInOneDirectory) {
  // Deletes prune empty directories while Puts create them; no Put may fail.
  std::atomic<int> failures{0};
  auto run = [&](int t) {
    for (int i = 0; i < 150; i++) {
      std::string key = "shared/dir/" + std::to_string(t) + "-" + std::to_string(i);
      Status s = store_.Put(key, "data");
      if (!s.ok()) failures++;
      if (!store_.Delete(key).ok()) failures++;
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) threads.emplace_back(run, t);
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_TRUE(store_.List("")->empty());
}

TEST_F(FileStoreTest, InvalidKeysAreRejected) {
  const std::vector<std::string> bad = {
      "",   "/abs", "..",    "../escape", "a/../b", "a/..",     "a//b",
      "a/", "./a",  "a/./b", "LOCK",      ".tmp-1", "a/.tmp-x", std::string("a\0b", 3)};
  for (const auto& k : bad) {
    SCOPED_TRACE("key: " + k);
    EXPECT_EQ(store_.Put(k, "x").code(), Code::kInvalid);
    EXPECT_EQ(store_.PutIfAbsent(k, "x").code(), Code::kInvalid);
    EXPECT_EQ(store_.Get(k).status().code(), Code::kInvalid);
    EXPECT_EQ(store_.GetRange(k, 0, 0).status().code(), Code::kInvalid);
    EXPECT_EQ(store_.Size(k).status().code(), Code::kInvalid);
    EXPECT_EQ(store_.Delete(k).code(), Code::kInvalid);
  }
  EXPECT_FALSE(fs::exists(fs::path(dir_.path()).parent_path() / "escape"));
  EXPECT_TRUE(store_.List("")->empty());
  // Dots inside a name are fine.
  EXPECT_TRUE(store_.Put("layers/0001.layer", "x").ok());
}

TEST_F(FileStoreTest, FilesystemErrorsNameTheObject) {
  ASSERT_TRUE(store_.Put("a", "file").ok());
  Status s = store_.Put("a/b", "x");
  EXPECT_EQ(s.code(), Code::kNotDir);
  EXPECT_NE(s.message().find("file store " + dir_.path() + ": put a/b"), std::string::npos)
      << s.message();
  // A later Put under the same name, once the file is gone, works.
  ASSERT_TRUE(store_.Delete("a").ok());
  EXPECT_TRUE(store_.Put("a/b", "x").ok());
}

TEST(FileStoreNoSpaceTest, FullDiskIsNoSpace) {
  TempDir dir;
  if (mount("tmpfs", dir.path().c_str(), "tmpfs", 0, "size=64k") != 0) {
    GTEST_SKIP() << "cannot mount a small tmpfs here (needs root): " << strerror(errno);
  }
  {
    FileObjectStore store(dir.path());
    Status s = store.Put("branches/1/m", std::string(1 << 20, 'x'));
    EXPECT_EQ(s.code(), Code::kNoSpace) << s.message();
    EXPECT_NE(s.message().find("put branches/1/m"), std::string::npos) << s.message();
    EXPECT_TRUE(TempFiles(dir.path()).empty());
    EXPECT_TRUE(store.Put("small", "fits").ok());
  }
  EXPECT_EQ(umount(dir.path().c_str()), 0);
}

TEST(OpenObjectStoreTest, AcceptsAbsoluteFileUrls) {
  struct Case {
    std::string url, normalized;
  };
  for (const Case& c :
       {Case{"file:///tmp/store", "file:///tmp/store"},
        Case{"file:///tmp/store/", "file:///tmp/store"},
        Case{"file:////tmp//store", "file:///tmp/store"}, Case{"FILE:///tmp/x", "file:///tmp/x"}}) {
    auto s = OpenObjectStore(c.url);
    ASSERT_TRUE(s.ok()) << c.url << ": " << s.status().ToString();
    EXPECT_EQ((*s)->Url(), c.normalized);
  }
}

TEST(OpenObjectStoreTest, RejectsMalformedUrlsWithOneClearMessage) {
  for (const std::string url :
       {"", "/tmp/store", "tmp/store", "file:", "file:/tmp/x", "file://", "file:///", "file:////",
        "file://tmp/store", "file://host/tmp/store", "file:///tmp/../etc", "file:///tmp/./x",
        "file:///..", "http://example.com/x", "://x"}) {
    auto s = OpenObjectStore(url);
    ASSERT_FALSE(s.ok()) << url;
    EXPECT_EQ(s.status().code(), Code::kInvalid) << url;
    EXPECT_NE(s.status().message().find("\"" + url + "\""), std::string::npos)
        << s.status().message();
    EXPECT_NE(s.status().message().find("file:///absolute/path"), std::string::npos)
        << s.status().message();
  }
  // s3:// URLs go to the S3 store, which names what is wrong (s3_url_test.cc has the rest).
  auto s3 = OpenObjectStore("s3://Bad_Bucket/p");
  ASSERT_FALSE(s3.ok());
  EXPECT_EQ(s3.status().code(), Code::kInvalid);
  EXPECT_NE(s3.status().message().find("\"s3://Bad_Bucket/p\": invalid bucket name"),
            std::string::npos)
      << s3.status().message();
}

}  // namespace
}  // namespace strata
