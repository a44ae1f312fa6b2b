// S3Lease: the mount lease of a store without locks, kept in one object.
//
// The object ("LOCK" under the store prefix) holds a JSON record
//   {"holder": ..., "host": ..., "pid": ..., "token": <random>, "expires_unix_ms": ...}.
// Acquire creates it with a conditional put (If-None-Match: *). If it exists,
// the lease is taken over when it has expired, or when it names this host and
// a pid that no longer runs (a crashed daemon on this machine); takeover is
// delete + conditional put, so of two takers only the one whose put lands
// first wins. Otherwise Acquire fails with kBusy naming the holder and expiry.
//
// A background thread renews the lease every ttl/3: it re-reads the record,
// checks that the token is still ours, and writes a new expiry. If the token
// changed, the record vanished, or the lease expired before it could be
// renewed, the lease is lost: logged with spdlog::error and reported by lost();
// it is never re-taken behind the caller's back. The destructor stops the
// thread and deletes the record if it is still ours.
//
// Limits (docs/s3.md): no fencing. A holder that stalls for longer than the TTL
// (or hosts whose clocks disagree by more than about ttl/3) can briefly
// overlap with a taker; the old holder finds out at its next renewal. A
// takeover racing another takeover can, in a window of one request, let both
// believe they won; the loser sees lost() at its first renewal.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "common/clock.h"
#include "common/mutex.h"
#include "common/status.h"
#include "objstore/object_store.h"

namespace strata {

// The one object a lease lives in. Implementations must be thread-safe.
class LeaseObject {
 public:
  virtual ~LeaseObject() = default;
  // The record; kNotFound if there is none.
  virtual Result<std::string> Read() = 0;
  // Writes the record only if there is none (kExists otherwise).
  virtual Status Create(std::string_view record) = 0;
  // Overwrites the record.
  virtual Status Replace(std::string_view record) = 0;
  // Deletes the record; OK if there is none.
  virtual Status Remove() = 0;
  // The URL of the store the lease guards, for messages.
  virtual std::string StoreUrl() const = 0;
};

struct LeaseRecord {
  std::string holder;
  std::string host;
  int64_t pid = 0;
  std::string token;
  int64_t expires_unix_ms = 0;
};

std::string EncodeLeaseRecord(const LeaseRecord& record);
// nullopt unless `json` is an object with every field of the right type.
std::optional<LeaseRecord> DecodeLeaseRecord(std::string_view json);

struct S3LeaseOptions {
  // How long a lease lives without renewal. Renewed every ttl/3.
  std::chrono::milliseconds ttl{30000};
  // This machine's name in records; empty means gethostname(2).
  std::string hostname;
  // Expiries (wall clock), the renewal schedule, and the pause between
  // re-reads of a torn record. The renewer checks it at least every ttl/10
  // of real time, so a ManualClock's Advance is seen that soon.
  Clock* clock = Clock::Real();
};

class S3Lease : public StoreLease {
 public:
  // Takes the lease for `holder` (a person-readable name, e.g. the daemon's
  // mount point). kBusy naming the current holder if it is held.
  static Result<std::unique_ptr<S3Lease>> Acquire(std::shared_ptr<LeaseObject> object,
                                                  const std::string& holder,
                                                  S3LeaseOptions options = {});
  ~S3Lease() override;

  S3Lease(const S3Lease&) = delete;
  S3Lease& operator=(const S3Lease&) = delete;

  // True once the lease is known to be lost (see above). Never goes back.
  bool lost() const override { return lost_.load(); }
  // The random token in our record.
  const std::string& token() const { return record_.token; }

 private:
  S3Lease(std::shared_ptr<LeaseObject> object, LeaseRecord record, S3LeaseOptions options);

  // Renews at `first`, then ttl/3 (or ttl/10 after a failure) after the
  // start of each renewal, by the clock.
  void RenewLoop(std::chrono::steady_clock::time_point first) EXCLUDES(mu_);
  // Waits until the clock reaches `deadline`; false if stopped first.
  bool WaitOrStop(std::chrono::steady_clock::time_point deadline) REQUIRES(mu_);
  // Tries one renewal; false once the lease is lost. Runs without mu_.
  bool RenewOnce(bool* retry_soon) EXCLUDES(mu_);
  void MarkLost(const std::string& why);

  // Immutable after construction (the renewer's expiry aside).
  const std::shared_ptr<LeaseObject> object_;
  const S3LeaseOptions options_;
  LeaseRecord record_;  // expires_unix_ms is only touched by the renewer

  std::atomic<bool> lost_{false};
  // Guards stop_ only, and is never held across a call to the LeaseObject:
  // a leaf. The destructor joins the renewer, so the owner must not destroy
  // the lease while holding a lock its LeaseObject takes.
  Mutex mu_;
  CondVar cv_;
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread renewer_;
};

}  // namespace strata
