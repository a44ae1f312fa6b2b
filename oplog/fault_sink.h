// FaultSink: a SinkWrapper for crash and retry tests. It fails Append or Sync
// on demand and adds latency; all knobs are atomics, safe to flip from any
// thread while the sink is in use.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <utility>

#include "oplog/sink_wrapper.h"

namespace strata {

class FaultSink : public SinkWrapper {
 public:
  explicit FaultSink(std::unique_ptr<Sink> base) : SinkWrapper(std::move(base)) {}

  // The next `n` calls fail with kIO without reaching the base sink.
  void FailAppends(int n) { fail_appends_ = n; }
  void FailSyncs(int n) { fail_syncs_ = n; }
  // Once a Sync fails, every later Sync fails too, like the real sink after a
  // failed fdatasync.
  void SetStickySyncFailure(bool on) { sticky_ = on; }
  void SetAppendLatency(std::chrono::microseconds d) { append_latency_us_ = d.count(); }
  void SetSyncLatency(std::chrono::microseconds d) { sync_latency_us_ = d.count(); }

  Result<uint64_t> Append(const OpRecord& rec) override {
    Sleep(append_latency_us_);
    if (Take(&fail_appends_)) return Status::IO("fault injection: append failed");
    return SinkWrapper::Append(rec);
  }
  Status Sync(uint64_t token) override {
    STRATA_RETURN_IF_ERROR(SyncFault());
    return SinkWrapper::Sync(token);
  }
  Status Barrier(uint64_t token, Durability tier) override {
    if (tier == Durability::kEphemeral) return Status::OK();
    STRATA_RETURN_IF_ERROR(SyncFault());
    return SinkWrapper::Barrier(token, tier);
  }

 private:
  Status SyncFault() {
    Sleep(sync_latency_us_);
    if (broken_ || Take(&fail_syncs_)) {
      if (sticky_) broken_ = true;
      return Status::IO("fault injection: sync failed");
    }
    return Status::OK();
  }
  static bool Take(std::atomic<int>* n) {
    int v = n->load();
    while (v > 0 && !n->compare_exchange_weak(v, v - 1)) {
    }
    return v > 0;
  }
  static void Sleep(int64_t us) {
    if (us > 0) std::this_thread::sleep_for(std::chrono::microseconds(us));
  }

  std::atomic<int> fail_appends_{0};
  std::atomic<int> fail_syncs_{0};
  std::atomic<bool> sticky_{false};
  std::atomic<bool> broken_{false};
  std::atomic<int64_t> append_latency_us_{0};
  std::atomic<int64_t> sync_latency_us_{0};
};

}  // namespace strata
