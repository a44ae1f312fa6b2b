// MeteredStore: counts the calls and bytes that pass through it to the store
// below, so `strata status` can show what the source of truth (L3) served.
// Counts logical calls: a call retried underneath counts once.
#pragma once

#include <atomic>
#include <cstdint>

#include "objstore/object_store.h"

namespace strata {

struct MeterStats {
  uint64_t reads = 0;        // Get and GetRange calls
  uint64_t read_bytes = 0;   // bytes they returned
  uint64_t writes = 0;       // Put and PutIfAbsent calls
  uint64_t write_bytes = 0;  // bytes they stored
  uint64_t heads = 0;        // Size calls
  uint64_t lists = 0;
  uint64_t deletes = 0;
  uint64_t errors = 0;  // calls that failed, except kNotFound and kExists answers
};

class MeteredStore : public ObjectStoreWrapper {
 public:
  explicit MeteredStore(ObjectStore* target) : ObjectStoreWrapper(target) {}

  Status Put(const std::string& k, std::string_view d) override;
  Status PutIfAbsent(const std::string& k, std::string_view d) override;
  Result<std::string> Get(const std::string& k) override;
  Result<std::string> GetRange(const std::string& k, uint64_t off, uint64_t len) override;
  Result<uint64_t> Size(const std::string& k) override;
  Result<std::vector<std::string>> List(const std::string& p) override;
  Status Delete(const std::string& k) override;
  Status DeleteMany(const std::vector<std::string>& k) override;

  MeterStats Stats() const;

 private:
  // Counts a failure unless it is an answer (absent, already there).
  void Note(const Status& st);

  std::atomic<uint64_t> reads_{0}, read_bytes_{0}, writes_{0}, write_bytes_{0};
  std::atomic<uint64_t> heads_{0}, lists_{0}, deletes_{0}, errors_{0};
};

}  // namespace strata
