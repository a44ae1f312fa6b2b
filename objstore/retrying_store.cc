#include "objstore/retrying_store.h"

#include <algorithm>
#include <cstdio>
#include <utility>

namespace strata {

namespace {

using std::chrono::milliseconds;

const Status& StatusOf(const Status& s) { return s; }
template <class T>
const Status& StatusOf(const Result<T>& r) {
  return r.status();
}

uint64_t SeedFrom(uint64_t seed) {
  if (seed != 0) return seed;
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

}  // namespace

struct RetryingStore::CallClock {
  explicit CallClock(Clock* c) : clock(c), start(c->SteadyNow()) {}
  std::chrono::nanoseconds Elapsed() const { return clock->SteadyNow() - start; }

  Clock* const clock;
  const std::chrono::steady_clock::time_point start;
};

RetryingStore::RetryingStore(ObjectStore* target, RetryPolicy policy)
    : ObjectStoreWrapper(target), policy_(std::move(policy)), rng_(SeedFrom(policy_.seed)) {}

RetryStats RetryingStore::Stats() const {
  RetryStats s;
  s.calls = calls_.load();
  s.retries = retries_.load();
  s.give_ups = give_ups_.load();
  return s;
}

milliseconds RetryingStore::BackoffCap(int n) const {
  const milliseconds max = std::max(policy_.max_backoff, milliseconds(0));
  milliseconds cap = std::max(policy_.initial_backoff, milliseconds(0));
  // Doubling step by step saturates at max instead of overflowing.
  for (int i = 0; i < n && cap < max; i++) cap = cap > max / 2 ? max : cap * 2;
  return std::min(cap, max);
}

milliseconds RetryingStore::DrawSleep(milliseconds cap) {
  if (cap.count() <= 0) return milliseconds(0);
  MutexLock l(&rng_mu_);
  return milliseconds(std::uniform_int_distribution<int64_t>(0, cap.count())(rng_));
}

template <class R, class Fn>
R RetryingStore::Run(const char* op, const std::string& key, CallClock& clock, Fn attempt,
                     bool* saw_retryable) {
  const int max_attempts = std::max(1, policy_.max_attempts);
  for (int made = 1;; made++) {
    R r = attempt();
    const Status& s = StatusOf(r);
    if (s.ok() || !s.retryable()) return r;
    if (saw_retryable != nullptr) *saw_retryable = true;
    if (made < max_attempts) {
      milliseconds sleep = DrawSleep(BackoffCap(made - 1));
      if (clock.Elapsed() + sleep <= policy_.deadline) {
        policy_.clock->SleepFor(sleep);
        retries_++;
        continue;
      }
    }
    give_ups_++;
    char secs[32];
    std::snprintf(secs, sizeof(secs), "%.1f",
                  std::chrono::duration<double>(clock.Elapsed()).count());
    return Status::Unavailable(std::string(op) + " " + key + ": gave up after " +
                               std::to_string(made) + (made == 1 ? " attempt" : " attempts") +
                               " in " + secs + " s: " + s.ToString());
  }
}

Status RetryingStore::Put(const std::string& k, std::string_view d) {
  calls_++;
  CallClock clock(policy_.clock);
  return Run<Status>("put", k, clock, [&] { return target()->Put(k, d); });
}

Status RetryingStore::PutIfAbsent(const std::string& k, std::string_view d) {
  calls_++;
  CallClock clock(policy_.clock);
  bool saw_retryable = false;
  Status s = Run<Status>(
      "put-if-absent", k, clock, [&] { return target()->PutIfAbsent(k, d); }, &saw_retryable);
  if (!s.IsExists() || !saw_retryable) return s;
  // An earlier attempt failed retryably and may have landed: if the stored
  // object is exactly our data, that write was ours (see the header).
  Result<std::string> stored = Run<Result<std::string>>("put-if-absent (read back)", k, clock,
                                                        [&] { return target()->Get(k); });
  if (stored.ok()) return *stored == d ? Status::OK() : s;
  if (stored.status().IsNotFound()) return s;
  return stored.status();
}

Result<std::string> RetryingStore::Get(const std::string& k) {
  calls_++;
  CallClock clock(policy_.clock);
  return Run<Result<std::string>>("get", k, clock, [&] { return target()->Get(k); });
}

Result<std::string> RetryingStore::GetRange(const std::string& k, uint64_t off, uint64_t len) {
  calls_++;
  CallClock clock(policy_.clock);
  return Run<Result<std::string>>("get-range", k, clock,
                                  [&] { return target()->GetRange(k, off, len); });
}

Result<uint64_t> RetryingStore::Size(const std::string& k) {
  calls_++;
  CallClock clock(policy_.clock);
  return Run<Result<uint64_t>>("size", k, clock, [&] { return target()->Size(k); });
}

Result<std::vector<std::string>> RetryingStore::List(const std::string& p) {
  calls_++;
  CallClock clock(policy_.clock);
  return Run<Result<std::vector<std::string>>>("list", p, clock, [&] { return target()->List(p); });
}

Status RetryingStore::Delete(const std::string& k) {
  calls_++;
  CallClock clock(policy_.clock);
  return Run<Status>("delete", k, clock, [&] { return target()->Delete(k); });
}

Status RetryingStore::DeleteMany(const std::vector<std::string>& k) {
  if (k.empty()) return Status::OK();
  calls_++;
  CallClock clock(policy_.clock);
  const std::string what =
      k[0] + (k.size() > 1 ? " and " + std::to_string(k.size() - 1) + " more" : "");
  return Run<Status>("delete-many", what, clock, [&] { return target()->DeleteMany(k); });
}

}  // namespace strata
