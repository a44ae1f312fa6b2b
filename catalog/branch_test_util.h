// TestEnv (layers/strata_test_util.h) plus the catalog and branch manager.
#pragma once

#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "catalog/branch_manager.h"
#include "catalog/catalog.h"
#include "common/clock.h"
#include "layers/strata_test_util.h"

namespace strata::testing {

class BranchEnv : public TestEnv {
 public:
  using TestEnv::TestEnv;
  ~BranchEnv() override { BranchEnv::Close(); }

  Status Open() override {
    STRATA_RETURN_IF_ERROR(TestEnv::Open());
    STRATA_ASSIGN_OR_RETURN(catalog_, Catalog::Load(store()));
    manager_ = std::make_unique<BranchManager>(catalog_.get(), vs(), clock());
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
  const BranchInfo* Find(const std::string& name) { return catalog_->Current()->FindBranch(name); }
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

// The value of `key` on `branch` ("<absent>" or "ERR:...").
inline std::string Val(BranchEnv& env, const std::string& branch, const std::string& key) {
  Result<std::optional<std::string>> r = env.vs()->Get(env.LineageOf(branch), key);
  if (!r.ok()) return "ERR:" + r.status().ToString();
  return r->has_value() ? **r : "<absent>";
}

// Commits key=value on `branch`; returns its seq (0 on failure, reported).
inline uint64_t Put(BranchEnv& env, const std::string& branch, const std::string& key,
                    const std::string& value) {
  Result<uint64_t> seq = env.vs()->Commit(env.Find(branch)->id, {{key, false, value}});
  EXPECT_TRUE(seq.ok()) << seq.status().ToString();
  return seq.ok() ? *seq : 0;
}

// `rounds` layers of `branch`, each overwriting the same 64 keys of 4 KiB.
inline void Churn(BranchEnv& env, const std::string& branch, int rounds, char tag) {
  const uint32_t id = env.Find(branch)->id;
  for (int r = 0; r < rounds; r++) {
    std::vector<KeyPut> puts;
    for (int k = 0; k < 64; k++) {
      puts.push_back({"key" + std::to_string(k), false, std::string(4096, tag + r % 8)});
    }
    ASSERT_OK(env.vs()->Commit(id, std::move(puts)));
    ASSERT_OK(env.vs()->Flush(id));
  }
}

// main (created with `opts`): seq1 root dir, seq2 k=v2 (snapshot s2), seq3
// k=v3, seq4 k=v4. Returns a time between seq 2 and seq 3, which `clock`
// (the env's, from UseManualClock) separates.
inline int64_t MakeForkHistory(BranchEnv& env, ManualClock* clock,
                               const BranchOptions& opts = BranchOptions{}) {
  EXPECT_TRUE(env.manager()->CreateBranch("main", "", opts).ok());
  Put(env, "main", "k", "v2");
  EXPECT_TRUE(env.manager()->CreateSnapshot("main", "s2").ok());
  clock->Advance(std::chrono::milliseconds(2));
  const int64_t after_seq2 = clock->NowNs();
  clock->Advance(std::chrono::milliseconds(2));
  Put(env, "main", "k", "v3");
  Put(env, "main", "k", "v4");
  return after_seq2;
}

}  // namespace strata::testing

namespace strata::testing {

// Counts writes (Put/PutIfAbsent: objects and bytes) and can fail catalog writes.
class CountingStore : public ObjectStoreWrapper {
 public:
  using ObjectStoreWrapper::ObjectStoreWrapper;
  Status Put(const std::string& k, std::string_view d) override {
    Count(k, d);
    return ObjectStoreWrapper::Put(k, d);
  }
  Status PutIfAbsent(const std::string& k, std::string_view d) override {
    if (fail_catalog && k.rfind("catalog/", 0) == 0) {
      return Status::IO("injected: catalog write failed");
    }
    Count(k, d);
    return ObjectStoreWrapper::PutIfAbsent(k, d);
  }
  void Reset() {
    puts = 0;
    bytes = 0;
    keys.clear();
  }
  uint64_t puts = 0;
  uint64_t bytes = 0;
  std::vector<std::string> keys;
  bool fail_catalog = false;

 private:
  void Count(const std::string& k, std::string_view d) {
    puts++;
    bytes += d.size();
    keys.push_back(k);
  }
};

// "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ" for a time in ns (FormatRfc3339 keeps ms).
inline std::string Rfc3339Ns(int64_t ns) {
  time_t t = static_cast<time_t>(ns / 1000000000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%09dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ns % 1000000000));
  return buf;
}

}  // namespace strata::testing
