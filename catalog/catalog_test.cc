#include "catalog/catalog.h"

#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <thread>
#include <utility>

#include "catalog/catalog_codec.h"
#include "common/temp_dir.h"
#include "objstore/file_store.h"

namespace strata {
namespace {

// Adds a branch named `name` with the next id, as BranchManager does.
Status AddBranch(Catalog* c, const std::string& name) {
  return c->Update([&](CatalogData& d) {
    if (d.FindBranch(name)) return Status::Exists("branch " + name);
    BranchInfo b;
    b.id = d.next_branch_id++;
    b.name = name;
    b.root_ino = uint64_t{b.id} << 40 | 1;
    d.branches.push_back(b);
    return Status::OK();
  });
}

std::vector<uint64_t> StoredVersions(ObjectStore* store) {
  Result<std::vector<std::string>> keys = store->List("catalog/");
  EXPECT_TRUE(keys.ok());
  std::vector<uint64_t> out;
  for (const std::string& k : *keys) out.push_back(std::stoull(k.substr(8, 20)));
  return out;
}

bool IsWhole(ObjectStore* store, uint64_t v) {
  Result<std::string> data = store->Get(CatalogKey(v));
  EXPECT_TRUE(data.ok()) << CatalogKey(v);
  Result<CatalogObject> o = DecodeCatalogObject(*data, CatalogKey(v));
  EXPECT_TRUE(o.ok()) << o.status().ToString();
  return o->whole.has_value();
}

class CatalogTest : public ::testing::Test {
 protected:
  std::unique_ptr<Catalog> Open() {
    Result<std::unique_ptr<Catalog>> c = Catalog::Load(&store_);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return std::move(*c);
  }
  testing::TempDir dir_;
  FileObjectStore store_{dir_.path()};
};

TEST_F(CatalogTest, VersionsAreDeltasWithACheckpointEveryKAndLoadRebuildsThem) {
  auto c = Open();
  constexpr uint64_t k = Catalog::kCheckpointEvery;
  for (uint64_t i = 1; i <= 2 * k + 6; i++) {
    ASSERT_TRUE(AddBranch(c.get(), "b" + std::to_string(i)).ok());
  }
  EXPECT_EQ(c->Current()->version, 2 * k + 6);
  // Whole at 1, k + 1 and 2k + 1; everything before the previous checkpoint
  // (k + 1) is deleted.
  const std::vector<uint64_t> versions = StoredVersions(&store_);
  ASSERT_EQ(versions.front(), k + 1);
  ASSERT_EQ(versions.back(), 2 * k + 6);
  EXPECT_EQ(versions.size(), k + 6);
  for (uint64_t v : versions) EXPECT_EQ(IsWhole(&store_, v), v % k == 1) << v;
  auto again = Open();
  EXPECT_EQ(EncodeCatalog(*again->Current()), EncodeCatalog(*c->Current()));
  // And the reloaded catalog carries on the same chain.
  ASSERT_TRUE(AddBranch(again.get(), "after").ok());
  EXPECT_FALSE(IsWhole(&store_, 2 * k + 7));
  EXPECT_EQ(Open()->Current()->branches.size(), 2 * k + 7);
}

TEST_F(CatalogTest, ACatalogOfWholeVersionsOnlyLoadsAndGrowsDeltas) {
  // What a daemon before deltas left: the three newest whole versions.
  CatalogData old;
  old.next_branch_id = 2;
  old.branches.push_back({});
  old.branches[0].id = 1;
  old.branches[0].name = "main";
  for (uint64_t v = 5; v <= 7; v++) {
    old.version = v;
    ASSERT_TRUE(store_.PutIfAbsent(CatalogKey(v), EncodeCatalog(old)).ok());
  }
  auto c = Open();
  EXPECT_EQ(c->Current()->version, 7u);
  ASSERT_NE(c->Current()->FindBranch("main"), nullptr);
  ASSERT_TRUE(AddBranch(c.get(), "dev").ok());
  EXPECT_FALSE(IsWhole(&store_, 8));
  EXPECT_EQ(Open()->Current()->branches.size(), 2u);
}

TEST_F(CatalogTest, TwoWritersOnOneStoreLoseNothingAndNeverReuseAnId) {
  auto a = Open();
  auto b = Open();
  constexpr int kEach = 60;
  std::thread ta([&] {
    for (int i = 0; i < kEach; i++) {
      const Status st = AddBranch(a.get(), "a" + std::to_string(i));
      ASSERT_TRUE(st.ok()) << st.ToString();
    }
  });
  std::thread tb([&] {
    for (int i = 0; i < kEach; i++) {
      const Status st = AddBranch(b.get(), "b" + std::to_string(i));
      ASSERT_TRUE(st.ok()) << st.ToString();
    }
  });
  ta.join();
  tb.join();
  ASSERT_TRUE(a->Refresh().ok());
  ASSERT_TRUE(b->Refresh().ok());
  const std::string want = EncodeCatalog(*Open()->Current());
  EXPECT_EQ(EncodeCatalog(*a->Current()), want);
  EXPECT_EQ(EncodeCatalog(*b->Current()), want);
  std::set<uint32_t> ids;
  std::set<std::string> names;
  for (const BranchInfo& br : a->Current()->branches) {
    ids.insert(br.id);
    names.insert(br.name);
  }
  EXPECT_EQ(ids.size(), 2u * kEach);
  EXPECT_EQ(names.size(), 2u * kEach);
  // A change that conflicts with another writer's is checked against it.
  EXPECT_TRUE(AddBranch(b.get(), "a0").IsExists());
}

// Runs a hook once, right after the PutIfAbsent of one key landed.
class AfterPutStore : public ObjectStoreWrapper {
 public:
  AfterPutStore(ObjectStore* target, std::string key, std::function<void()> hook)
      : ObjectStoreWrapper(target), key_(std::move(key)), hook_(std::move(hook)) {}
  Status PutIfAbsent(const std::string& k, std::string_view d) override {
    Status st = target()->PutIfAbsent(k, d);
    if (st.ok() && k == key_ && hook_) std::exchange(hook_, nullptr)();
    return st;
  }

 private:
  const std::string key_;
  std::function<void()> hook_;
};

TEST_F(CatalogTest, AnotherWritersCheckpointRightAfterOurVersionDoesNotMakeItStale) {
  auto other = Open();
  for (uint64_t v = 1; v < Catalog::kCheckpointEvery; v++) {  // versions 1 .. k - 1
    ASSERT_TRUE(AddBranch(other.get(), "x" + std::to_string(v)).ok());
  }
  // Our version k is a delta; the other writer's k + 1, stored before we
  // look at the list, is the next checkpoint.
  AfterPutStore hooked(&store_, CatalogKey(Catalog::kCheckpointEvery),
                       [&] { ASSERT_TRUE(AddBranch(other.get(), "theirs").ok()); });
  Result<std::unique_ptr<Catalog>> ours = Catalog::Load(&hooked);
  ASSERT_TRUE(ours.ok()) << ours.status().ToString();
  ASSERT_TRUE(AddBranch(ours->get(), "ours").ok());  // not "branch ours exists"
  ASSERT_TRUE(IsWhole(&store_, Catalog::kCheckpointEvery + 1));
  auto fresh = Open();
  EXPECT_EQ(fresh->Current()->version, Catalog::kCheckpointEvery + 1);
  EXPECT_NE(fresh->Current()->FindBranch("ours"), nullptr);
  EXPECT_NE(fresh->Current()->FindBranch("theirs"), nullptr);
}

TEST_F(CatalogTest, AWriterFarBehindReloadsInsteadOfWritingIntoDeletedVersions) {
  ASSERT_TRUE(AddBranch(Open().get(), "first").ok());
  auto behind = Open();  // at version 1
  auto ahead = Open();
  for (uint64_t i = 0; i < 3 * Catalog::kCheckpointEvery; i++) {
    ASSERT_TRUE(AddBranch(ahead.get(), "x" + std::to_string(i)).ok());
  }
  ASSERT_EQ(store_.Size(CatalogKey(2)).status().code(), Code::kNotFound);
  // Version 2 was deleted, so a PutIfAbsent of it succeeds; the writer must
  // notice that version 1 is gone too and start over from the newest.
  ASSERT_TRUE(AddBranch(behind.get(), "late").ok());
  const uint64_t newest = ahead->Current()->version + 1;
  EXPECT_EQ(behind->Current()->version, newest);
  auto fresh = Open();
  EXPECT_EQ(fresh->Current()->version, newest);
  EXPECT_NE(fresh->Current()->FindBranch("late"), nullptr);
  EXPECT_NE(fresh->Current()->FindBranch("x0"), nullptr);
  // Refresh brings the other writer up to date.
  ASSERT_TRUE(ahead->Refresh().ok());
  EXPECT_NE(ahead->Current()->FindBranch("late"), nullptr);
}

TEST_F(CatalogTest, ADamagedVersionFailsTheLoadNamingIt) {
  auto c = Open();
  for (int i = 0; i < 4; i++) ASSERT_TRUE(AddBranch(c.get(), "b" + std::to_string(i)).ok());
  ASSERT_TRUE(store_.Delete(CatalogKey(3)).ok());
  ASSERT_TRUE(store_.Put(CatalogKey(3), "{not json").ok());
  Result<std::unique_ptr<Catalog>> loaded = Catalog::Load(&store_);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), Code::kCorruption);
  EXPECT_NE(loaded.status().message().find(CatalogKey(3)), std::string::npos)
      << loaded.status().message();
  // A chain without its checkpoint.
  ASSERT_TRUE(store_.Delete(CatalogKey(3)).ok());
  ASSERT_TRUE(store_.Delete(CatalogKey(4)).ok());
  ASSERT_TRUE(store_.Delete(CatalogKey(1)).ok());
  loaded = Catalog::Load(&store_);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), Code::kCorruption);
  EXPECT_NE(loaded.status().message().find(CatalogKey(1)), std::string::npos)
      << loaded.status().message();
}

TEST_F(CatalogTest, KeysThatAreNotVersionsAreIgnored) {
  auto c = Open();
  ASSERT_TRUE(AddBranch(c.get(), "main").ok());
  for (const char* key :
       {"catalog/99999999999999999999.json", "catalog/0000000000000000000x.json",
        "catalog/00000000000000000009.json.tmp", "catalog/-0000000000000000009.json"}) {
    ASSERT_TRUE(store_.Put(key, "junk").ok()) << key;
  }
  auto again = Open();
  EXPECT_EQ(again->Current()->version, 1u);
  ASSERT_TRUE(AddBranch(again.get(), "dev").ok());
  EXPECT_EQ(Open()->Current()->branches.size(), 2u);
}

TEST_F(CatalogTest, AFailedMutateOrWriteChangesNothing) {
  auto c = Open();
  ASSERT_TRUE(AddBranch(c.get(), "main").ok());
  EXPECT_TRUE(AddBranch(c.get(), "main").IsExists());
  EXPECT_EQ(c->Current()->version, 1u);
  EXPECT_EQ(StoredVersions(&store_).size(), 1u);
}

}  // namespace
}  // namespace strata
