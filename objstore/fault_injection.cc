#include "objstore/fault_injection.h"

#include <thread>

namespace strata {

FaultInjectingStore::FaultInjectingStore(ObjectStore* target, FaultConfig config)
    : ObjectStoreWrapper(target), config_(config), rng_(config.seed) {}

void FaultInjectingStore::set_config(const FaultConfig& config) {
  MutexLock l(&mu_);
  config_ = config;
  rng_.seed(config.seed);
}

FaultConfig FaultInjectingStore::config() const {
  MutexLock l(&mu_);
  return config_;
}

Status FaultInjectingStore::Before(const char* op, const std::string& key) {
  calls_++;
  FaultConfig c;
  bool fail = false;
  {
    MutexLock l(&mu_);
    c = config_;
    // Draw on every call, even under fail_all, so the sequence of faults for a
    // seed does not depend on what other knobs were set.
    double draw = std::uniform_real_distribution<double>(0, 1)(rng_);
    fail = c.fail_all || draw < c.error_rate;
  }
  // Sleep outside the lock so concurrent calls overlap, as they would remotely.
  if (c.latency.count() > 0) std::this_thread::sleep_for(c.latency);
  if (!fail) return Status::OK();
  faults_++;
  return Status::IO(std::string("fault injection: ") + op + " " + key + ": " +
                        (c.fail_all ? "store unreachable" : "transient error"),
                    /*retryable=*/true);
}

Status FaultInjectingStore::PutLike(const char* op, const std::string& k, std::string_view d,
                                    bool if_absent) {
  STRATA_RETURN_IF_ERROR(Before(op, k));
  if (config().torn_put) {
    faults_++;
    STRATA_RETURN_IF_ERROR(target()->Put(k, d.substr(0, d.size() / 2)));
    return Status::IO(std::string("fault injection: ") + op + " " + k + ": torn upload (" +
                          std::to_string(d.size() / 2) + " of " + std::to_string(d.size()) +
                          " bytes written)",
                      /*retryable=*/true);
  }
  return if_absent ? target()->PutIfAbsent(k, d) : target()->Put(k, d);
}

Status FaultInjectingStore::Put(const std::string& k, std::string_view d) {
  return PutLike("put", k, d, /*if_absent=*/false);
}

Status FaultInjectingStore::PutIfAbsent(const std::string& k, std::string_view d) {
  return PutLike("put-if-absent", k, d, /*if_absent=*/true);
}

Result<std::string> FaultInjectingStore::Get(const std::string& k) {
  STRATA_RETURN_IF_ERROR(Before("get", k));
  return target()->Get(k);
}

Result<std::string> FaultInjectingStore::GetRange(const std::string& k, uint64_t off,
                                                  uint64_t len) {
  STRATA_RETURN_IF_ERROR(Before("get-range", k));
  return target()->GetRange(k, off, len);
}

Result<uint64_t> FaultInjectingStore::Size(const std::string& k) {
  STRATA_RETURN_IF_ERROR(Before("size", k));
  return target()->Size(k);
}

Result<std::vector<std::string>> FaultInjectingStore::List(const std::string& p) {
  STRATA_RETURN_IF_ERROR(Before("list", p));
  return target()->List(p);
}

Status FaultInjectingStore::Delete(const std::string& k) {
  STRATA_RETURN_IF_ERROR(Before("delete", k));
  return target()->Delete(k);
}

Status FaultInjectingStore::DeleteMany(const std::vector<std::string>& k) {
  STRATA_RETURN_IF_ERROR(Before("delete-many", k.empty() ? "" : k[0]));
  return target()->DeleteMany(k);
}

}  // namespace strata
