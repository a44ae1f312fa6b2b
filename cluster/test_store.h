// TestStore: the store of the cluster tests. A FileObjectStore in a fresh
// TempDir, wrapped so that a test can make writes fail or reads misbehave the
// way a remote store can. Test code only.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "common/mutex.h"
#include "common/temp_dir.h"
#include "objstore/file_store.h"
#include "objstore/object_store.h"

namespace strata::testing {

class TestStore : public ObjectStoreWrapper {
 public:
  TestStore() : ObjectStoreWrapper(&file_) {}

  Status Put(const std::string& key, std::string_view data) override {
    put_attempts_++;
    if (fail_puts_.load()) return Status::IO("test store: put " + key + " fails", true);
    return ObjectStoreWrapper::Put(key, data);
  }
  Status PutIfAbsent(const std::string& key, std::string_view data) override {
    put_attempts_++;
    if (fail_puts_.load()) return Status::IO("test store: put " + key + " fails", true);
    return ObjectStoreWrapper::PutIfAbsent(key, data);
  }
  Result<std::string> Get(const std::string& key) override {
    {
      MutexLock l(&mu_);
      if (vanishing_gets_ > 0) {
        vanishing_gets_--;
        return Status::NotFound("test store: " + key + " vanished");
      }
    }
    Result<std::string> text = ObjectStoreWrapper::Get(key);
    MutexLock l(&mu_);
    if (!text.ok() || torn_gets_ == 0) return text;
    torn_gets_--;
    return text->substr(0, text->size() / 2);
  }
  Result<std::vector<std::string>> List(const std::string& prefix) override {
    Result<std::vector<std::string>> keys = ObjectStoreWrapper::List(prefix);
    MutexLock l(&mu_);
    if (!keys.ok() || !next_list_filter_) return keys;
    auto filter = std::move(next_list_filter_);
    next_list_filter_ = nullptr;
    return filter(std::move(*keys));
  }

  // Every Put and PutIfAbsent fails (retryably) while set.
  void FailPuts(bool fail) { fail_puts_.store(fail); }
  // Puts and PutIfAbsents tried so far, failed ones included.
  int put_attempts() const { return put_attempts_.load(); }
  // The next `n` Gets of existing objects return their first half, as a
  // server without atomic PUT can mid-write.
  void TearGets(int n) {
    MutexLock l(&mu_);
    torn_gets_ = n;
  }
  // The next `n` Gets say kNotFound, as if the object was deleted after a LIST.
  void VanishGets(int n) {
    MutexLock l(&mu_);
    vanishing_gets_ = n;
  }
  // The next List answers filter(the real answer): a stale listing.
  void FilterNextList(std::function<std::vector<std::string>(std::vector<std::string>)> filter) {
    MutexLock l(&mu_);
    next_list_filter_ = std::move(filter);
  }

 private:
  TempDir dir_;
  FileObjectStore file_{dir_.path()};
  std::atomic<bool> fail_puts_{false};
  std::atomic<int> put_attempts_{0};
  Mutex mu_;
  int torn_gets_ GUARDED_BY(mu_) = 0;
  int vanishing_gets_ GUARDED_BY(mu_) = 0;
  std::function<std::vector<std::string>(std::vector<std::string>)> next_list_filter_
      GUARDED_BY(mu_);
};

// Waits (5 s of real time at most) until `done` holds: for a background
// thread to act on a ManualClock's Advance. Time itself is the ManualClock's.
inline bool Eventually(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace strata::testing
