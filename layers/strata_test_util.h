// Test helpers shared by the layers, snapshot, fs and daemon unit tests: a
// fresh temp directory per test holding a real FileObjectStore, a LocalSink
// and a VersionStore (background flush off). Close()/Open() model a crash:
// nothing is flushed. catalog/branch_test_util.h adds catalog and manager.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "common/status_test_util.h"
#include "common/temp_dir.h"
#include "layers/key.h"
#include "layers/version_store.h"
#include "objstore/file_store.h"
#include "oplog/sink.h"

namespace strata::testing {

class TestEnv {
 public:
  explicit TestEnv(size_t memtable_bytes = 1 << 20)
      : file_store_(std::make_unique<FileObjectStore>(dir_.path() + "/store")) {
    options_.index_dir = dir_.path() + "/index";
    options_.memtable_bytes = memtable_bytes;
    options_.background_flush = false;
  }
  virtual ~TestEnv() { TestEnv::Close(); }

  // Puts a wrapper W(file_store, args...) between everything and the store.
  // Call before Open.
  template <class W, class... A>
  W* Wrap(A&&... args) {
    auto w = std::make_unique<W>(file_store_.get(), std::forward<A>(args)...);
    W* raw = w.get();
    wrapper_ = std::move(w);
    return raw;
  }

  // Makes the version store (and catalog/branch_test_util.h's manager) run
  // on a ManualClock that only moves when the test says. Call before Open.
  ManualClock* UseManualClock() {
    options_.clock = &manual_clock_;
    return &manual_clock_;
  }

  // Puts fn(local sink) between the version store and its op log at every
  // Open. Call before Open.
  void WrapSink(std::function<std::unique_ptr<Sink>(std::unique_ptr<Sink>)> fn) {
    wrap_sink_ = std::move(fn);
  }

  // Opens sink and version store; recovers nothing.
  virtual Status Open() {
    STRATA_ASSIGN_OR_RETURN(sink_, OpenLocalSink(dir_.path() + "/sink"));
    if (wrap_sink_) sink_ = wrap_sink_(std::move(sink_));
    STRATA_ASSIGN_OR_RETURN(vs_, VersionStore::Open(store(), sink_.get(), options_));
    return Status::OK();
  }
  // Drops everything in memory without flushing: a crash.
  virtual void Close() {
    vs_.reset();
    sink_.reset();
  }
  Status Reopen(const std::vector<uint32_t>& branches) {
    Close();
    STRATA_RETURN_IF_ERROR(Open());
    return vs_->Recover(branches);
  }
  // Removes the local RocksDB index (a cache). Call while closed.
  void DeleteIndex() {
    std::error_code ec;
    std::filesystem::remove_all(options_.index_dir, ec);
  }
  // Objects under a prefix, or a test failure.
  std::vector<std::string> List(const std::string& prefix) {
    Result<std::vector<std::string>> r = file_store_->List(prefix);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<std::string>{};
  }

  VersionStoreOptions& options() { return options_; }  // change before Open
  Clock* clock() { return options_.clock; }
  const std::string& dir() const { return dir_.path(); }
  std::string store_root() const { return dir_.path() + "/store"; }
  ObjectStore* store() { return wrapper_ ? wrapper_.get() : file_store_.get(); }
  FileObjectStore* file_store() { return file_store_.get(); }
  Sink* sink() { return sink_.get(); }
  VersionStore* vs() { return vs_.get(); }

 private:
  TempDir dir_;
  ManualClock manual_clock_;
  VersionStoreOptions options_;
  std::unique_ptr<FileObjectStore> file_store_;
  std::unique_ptr<ObjectStore> wrapper_;
  std::function<std::unique_ptr<Sink>(std::unique_ptr<Sink>)> wrap_sink_;
  std::unique_ptr<Sink> sink_;
  std::unique_ptr<VersionStore> vs_;
};

// A page of kPageSize bytes, every byte `c`.
inline std::string Page(char c) { return std::string(kPageSize, c); }

}  // namespace strata::testing
