// Two daemons on one store (docs/cluster.md): what one does to the catalog,
// the other follows (BranchManager::Follow), and what one writes, the other
// may not change. Leases are stood in for by a table of holders.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "catalog/branch_manager.h"
#include "catalog/catalog.h"
#include "catalog/catalog_follower.h"
#include "common/status_test_util.h"
#include "common/temp_dir.h"
#include "layers/manifest.h"
#include "layers/strata_test_util.h"
#include "objstore/file_store.h"

namespace strata {
namespace {

using testing::Page;

// Who holds each branch; a holder keeps it until it lets go.
struct Holders {
  std::map<uint32_t, std::string> of;
  std::map<uint32_t, uint64_t> epoch;
  std::function<Result<uint64_t>(uint32_t)> For(const std::string& daemon) {
    return [this, daemon](uint32_t branch) -> Result<uint64_t> {
      auto it = of.find(branch);
      if (it != of.end() && it->second != daemon) {
        return Status::Busy("branch " + std::to_string(branch) + " is held by " + it->second);
      }
      of[branch] = daemon;
      return ++epoch[branch];
    };
  }
};

// One daemon: its own store handle, op log, index, catalog and manager.
class Daemon {
 public:
  Daemon(const std::string& store_root, Holders* holders, const std::string& name)
      : store_(store_root) {
    VersionStoreOptions o;
    o.index_dir = dir_.path() + "/index";
    o.background_flush = false;
    o.claim = holders->For(name);
    sink_ = std::move(OpenLocalSink(dir_.path() + "/sink")).value();
    vs_ = std::move(VersionStore::Open(&store_, sink_.get(), o)).value();
    catalog_ = std::move(Catalog::Load(&store_)).value();
    std::vector<uint32_t> ids;
    for (const BranchInfo& b : catalog_->Current()->branches) ids.push_back(b.id);
    EXPECT_OK(vs_->Recover(ids));
    manager_ = std::make_unique<BranchManager>(catalog_.get(), vs_.get());
    manager_->SetBranchGoneListener([this](const std::string& n) { gone.push_back(n); });
    seen_ = catalog_->Current();
  }
  // What the daemon's follower thread does each tick.
  Status Follow() {
    STRATA_RETURN_IF_ERROR(catalog_->Refresh());
    STRATA_ASSIGN_OR_RETURN(seen_, manager_->Follow(*seen_));
    return Status::OK();
  }
  std::string Read(const std::string& branch, const std::string& key) {
    auto cat = catalog_->Current();
    const BranchInfo* b = cat->FindBranch(branch);
    if (!b) return "<no branch>";
    Result<std::optional<std::string>> r = vs_->Get(cat->LineageOf(b->id), key);
    if (!r.ok()) return "ERR:" + r.status().ToString();
    return r->has_value() ? **r : "<absent>";
  }
  Result<uint64_t> Write(const std::string& branch, const std::string& key, const std::string& v) {
    const BranchInfo* b = catalog_->Current()->FindBranch(branch);
    if (!b) return Status::NotFound(branch);
    return vs_->Commit(b->id, {{key, false, v}});
  }
  uint32_t Id(const std::string& branch) { return catalog_->Current()->FindBranch(branch)->id; }
  BranchManager* manager() { return manager_.get(); }
  VersionStore* vs() { return vs_.get(); }
  Catalog* catalog() { return catalog_.get(); }
  std::vector<std::string> gone;

 private:
  testing::TempDir dir_;
  FileObjectStore store_;
  std::unique_ptr<Sink> sink_;
  std::unique_ptr<VersionStore> vs_;
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<BranchManager> manager_;
  std::shared_ptr<const CatalogData> seen_;
};

class FollowTest : public ::testing::Test {
 protected:
  testing::TempDir dir_;
  Holders holders_;
  Daemon a_{dir_.path(), &holders_, "a"};
  Daemon b_{dir_.path(), &holders_, "b"};
};

TEST_F(FollowTest, BranchesMadeElsewhereAppearAndDeletedOnesGoWithoutTouchingTheStore) {
  ASSERT_OK(a_.manager()->CreateBranch("main", "", 0, 0).status());
  ASSERT_OK(a_.Write("main", "k", Page('1')).status());
  ASSERT_OK(a_.vs()->Flush(a_.Id("main")));
  EXPECT_EQ(b_.Read("main", "k"), "<no branch>");
  ASSERT_OK(b_.Follow());
  EXPECT_EQ(b_.Read("main", "k"), Page('1'));
  EXPECT_EQ(b_.gone, std::vector<std::string>{"main"});  // the negative entry goes

  ASSERT_OK(a_.manager()->CreateBranch("kid", "main", 0, 0).status());
  ASSERT_OK(a_.Write("kid", "j", "J").status());
  ASSERT_OK(a_.vs()->Flush(a_.Id("kid")));
  ASSERT_OK(b_.Follow());
  EXPECT_EQ(b_.Read("kid", "k"), Page('1'));  // through the parent
  EXPECT_EQ(b_.Read("kid", "j"), "J");
  const uint32_t kid = a_.Id("kid");

  ASSERT_OK(a_.manager()->DeleteBranch("kid"));
  b_.gone.clear();
  ASSERT_OK(b_.Follow());
  EXPECT_FALSE(b_.vs()->HasBranch(kid));
  EXPECT_EQ(b_.gone, std::vector<std::string>{"kid"});
  EXPECT_EQ(b_.Read("main", "k"), Page('1'));
  ASSERT_OK(b_.Follow());  // nothing changed: nothing to do
  EXPECT_EQ(b_.gone.size(), 1u);
}

TEST_F(FollowTest, ABranchMadeElsewhereIsKnownToTheVersionStoreOnceTheCatalogNamesIt) {
  ASSERT_OK(a_.manager()->CreateBranch("main", "", 0, 0).status());
  ASSERT_OK(a_.Write("main", "k", "A").status());
  ASSERT_OK(a_.vs()->Flush(a_.Id("main")));
  // A refresh alone (no Follow yet): whoever looks the name up finds a
  // branch the version store can claim or read, not "branch id gone".
  ASSERT_OK(b_.catalog()->Refresh());
  ASSERT_NE(b_.catalog()->Current()->FindBranch("main"), nullptr);
  EXPECT_TRUE(b_.vs()->HasBranch(b_.Id("main")));
  EXPECT_EQ(b_.Read("main", "k"), "A");
  EXPECT_EQ(b_.vs()->Claim(b_.Id("main")).code(), Code::kReadOnly);  // a holds it
  // An Update that loses the race to a's change catches up the same way.
  ASSERT_OK(a_.manager()->CreateBranch("two", "", 0, 0).status());
  ASSERT_OK(b_.manager()->CreateBranch("three", "", 0, 0).status());
  EXPECT_TRUE(b_.vs()->HasBranch(b_.Id("two")));
}

TEST_F(FollowTest, ABranchWrittenElsewhereCannotBeWrittenOrDeletedHere) {
  ASSERT_OK(a_.manager()->CreateBranch("main", "", 0, 0).status());
  ASSERT_OK(a_.Write("main", "k", "A").status());  // a holds it now
  ASSERT_OK(b_.Follow());
  Result<uint64_t> w = b_.Write("main", "k", "B");
  EXPECT_EQ(w.status().code(), Code::kReadOnly) << w.status().ToString();
  Status del = b_.manager()->DeleteBranch("main");
  EXPECT_EQ(del.code(), Code::kBusy) << del.ToString();
  EXPECT_NE(del.message().find("written by another daemon"), std::string::npos);
  EXPECT_EQ(b_.manager()->ResetBranch("main").status().code(), Code::kInvalid);  // a root

  // a lets go (a clean stop flushes, then releases): b may delete it.
  ASSERT_OK(a_.vs()->Flush(a_.Id("main")));
  ASSERT_OK(a_.vs()->Unclaim(a_.Id("main")));
  holders_.of.erase(a_.Id("main"));
  const uint32_t id = a_.Id("main");
  ASSERT_OK(b_.manager()->DeleteBranch("main"));
  ASSERT_OK(a_.Follow());
  EXPECT_FALSE(a_.vs()->HasBranch(id));
  EXPECT_EQ(a_.Read("main", "k"), "<no branch>");
}

TEST_F(FollowTest, AForkOfABranchWrittenElsewhereStartsAtItsLastPublishedState) {
  ASSERT_OK(a_.manager()->CreateBranch("main", "", 0, 0).status());
  ASSERT_OK(b_.Follow());  // b attached main while it was empty
  ASSERT_OK(a_.Write("main", "k", "published").status());
  ASSERT_OK(a_.vs()->Flush(a_.Id("main")));
  ASSERT_OK(a_.Write("main", "k", "only in a's memtable").status());
  ASSERT_OK_AND_ASSIGN(BranchInfo fork, b_.manager()->CreateBranch("fork", "main", 0, 0));
  EXPECT_EQ(fork.fork_seq, 2u);  // seq 1 is main's top directory, 2 the flushed write
  EXPECT_EQ(b_.Read("fork", "k"), "published");
  ASSERT_OK(b_.Write("fork", "k", "b's own").status());  // b holds its own fork
  EXPECT_EQ(b_.Read("fork", "k"), "b's own");
  ASSERT_OK(a_.Follow());
  EXPECT_EQ(a_.Read("fork", "k"), "published");  // b has not flushed its write
  ASSERT_OK_AND_ASSIGN(SnapshotInfo snap, b_.manager()->CreateSnapshot("main", "s1"));
  EXPECT_EQ(snap.seq, 2u);
}

TEST_F(FollowTest, TwoDaemonsCreatingBranchesNeverHandOutTheSameId) {
  std::set<uint32_t> ids;
  for (int i = 0; i < 70; i++) {  // past one reserved block of 64
    ASSERT_OK_AND_ASSIGN(BranchInfo x,
                         a_.manager()->CreateBranch("x" + std::to_string(i), "", 0, 0));
    ASSERT_OK_AND_ASSIGN(BranchInfo y,
                         b_.manager()->CreateBranch("y" + std::to_string(i), "", 0, 0));
    EXPECT_TRUE(ids.insert(x.id).second) << "id " << x.id << " twice";
    EXPECT_TRUE(ids.insert(y.id).second) << "id " << y.id << " twice";
  }
  ASSERT_OK(a_.Follow());
  ASSERT_OK(b_.Follow());
  EXPECT_EQ(a_.Read("y69", "k"), "<absent>");  // each sees the other's branches
  EXPECT_EQ(b_.Read("x69", "k"), "<absent>");
}

TEST_F(FollowTest, TheFollowerThreadBringsChangesInWithinATick) {
  CatalogFollower follower(b_.catalog(), b_.manager(), std::chrono::milliseconds(10));
  follower.Start();
  ASSERT_OK(a_.manager()->CreateBranch("main", "", 0, 0).status());
  const uint32_t id = a_.Id("main");
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!b_.vs()->HasBranch(id) && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(b_.vs()->HasBranch(id));
  follower.Stop();
  ASSERT_OK(a_.manager()->DeleteBranch("main"));
  ASSERT_OK(follower.FollowOnce());  // by hand, with the thread stopped
  EXPECT_FALSE(b_.vs()->HasBranch(id));
}

}  // namespace
}  // namespace strata
