// TestEnv (layers/strata_test_util.h) plus the catalog and branch manager.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "layers/strata_test_util.h"
#include "snapshot/branch_manager.h"
#include "snapshot/catalog.h"

namespace strata::testing {

class BranchEnv : public TestEnv {
 public:
  using TestEnv::TestEnv;
  ~BranchEnv() override { BranchEnv::Close(); }

  Status Open() override {
    STRATA_RETURN_IF_ERROR(TestEnv::Open());
    STRATA_ASSIGN_OR_RETURN(catalog_, Catalog::Load(store()));
    manager_ = std::make_unique<BranchManager>(catalog_.get(), vs());
    return Status::OK();
  }
  void Close() override {
    manager_.reset();
    catalog_.reset();
    TestEnv::Close();
  }
  // Reopens (a crash: nothing flushed) and recovers every catalog branch.
  Status ReopenFromCatalog() {
    Close();
    STRATA_RETURN_IF_ERROR(Open());
    return vs()->Recover(BranchIds());
  }
  std::vector<uint32_t> BranchIds() const {
    std::vector<uint32_t> ids;
    for (const BranchInfo& b : catalog_->Current()->branches) ids.push_back(b.id);
    return ids;
  }
  const BranchInfo* Find(const std::string& name) {
    return catalog_->Current()->FindBranch(name);
  }
  Lineage LineageOf(const std::string& branch) {
    auto cat = catalog_->Current();
    const BranchInfo* b = cat->FindBranch(branch);
    EXPECT_NE(b, nullptr) << branch;
    return b ? cat->LineageOf(b->id) : Lineage{};
  }
  Catalog* catalog() { return catalog_.get(); }
  BranchManager* manager() { return manager_.get(); }

 private:
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<BranchManager> manager_;
};

}  // namespace strata::testing
