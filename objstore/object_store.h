// ObjectStore: the durable root of a strata store.
//
// Keys are '/'-separated relative paths ("branches/7/layers/0000000003.layer").
// A key is non-empty, has no leading or trailing '/', no "//", no ".." anywhere,
// no "." component and no NUL; "LOCK" and components starting with ".tmp-" are
// reserved. Any other key is kInvalid, in every implementation. "LOCK" was the
// store-wide lease object of daemons from before shared stores; nothing reads
// or writes it today, but old stores may hold it, so it is never listed.
// Objects are immutable once written, except the few the caller overwrites on
// purpose with Put. Implementations must be thread-safe. The interface knows
// nothing of pages or branches.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace strata {

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // Writes `data` under `key` atomically and durably: a reader sees either the
  // old object or the whole new one, and the object survives a crash once Put
  // returns OK.
  virtual Status Put(const std::string& key, std::string_view data) = 0;
  // Like Put, but fails with kExists (and changes nothing) if `key` exists.
  // Two racing writers: exactly one succeeds.
  virtual Status PutIfAbsent(const std::string& key, std::string_view data) = 0;
  // The whole object; kNotFound if absent.
  virtual Result<std::string> Get(const std::string& key) = 0;
  // `len` bytes at `offset`; kInvalid if the range runs past the end.
  virtual Result<std::string> GetRange(const std::string& key, uint64_t offset, uint64_t len) = 0;
  // Object size in bytes; kNotFound if absent.
  virtual Result<uint64_t> Size(const std::string& key) = 0;
  // Keys that start with `prefix`, sorted.
  virtual Result<std::vector<std::string>> List(const std::string& prefix) = 0;
  // Removes `key`; OK if it did not exist.
  virtual Status Delete(const std::string& key) = 0;
  // Removes every key, as Delete does; on an error some may be gone. The
  // default deletes one at a time; s3:// sends one DeleteObjects request per
  // kMaxDeleteBatch keys.
  virtual Status DeleteMany(const std::vector<std::string>& keys);
  static constexpr size_t kMaxDeleteBatch = 1000;
  // The URL this store was opened from.
  virtual std::string Url() const = 0;
  // Drops any locally cached copy of `key`, because a reader found it corrupt;
  // the next read goes to the source of truth. A no-op for stores that cache
  // nothing.
  virtual void Invalidate(const std::string& key) { (void)key; }
};

// Forwards every call to a wrapped store, so a test wrapper overrides one method.
class ObjectStoreWrapper : public ObjectStore {
 public:
  explicit ObjectStoreWrapper(ObjectStore* target) : target_(target) {}
  Status Put(const std::string& k, std::string_view d) override { return target_->Put(k, d); }
  Status PutIfAbsent(const std::string& k, std::string_view d) override {
    return target_->PutIfAbsent(k, d);
  }
  Result<std::string> Get(const std::string& k) override { return target_->Get(k); }
  Result<std::string> GetRange(const std::string& k, uint64_t off, uint64_t len) override {
    return target_->GetRange(k, off, len);
  }
  Result<uint64_t> Size(const std::string& k) override { return target_->Size(k); }
  Result<std::vector<std::string>> List(const std::string& p) override { return target_->List(p); }
  Status Delete(const std::string& k) override { return target_->Delete(k); }
  Status DeleteMany(const std::vector<std::string>& k) override { return target_->DeleteMany(k); }
  std::string Url() const override { return target_->Url(); }
  void Invalidate(const std::string& k) override { target_->Invalidate(k); }

 protected:
  ObjectStore* target() const { return target_; }

 private:
  ObjectStore* const target_;
};

// Why `key` is not a valid key under the rules at the top of this file, e.g.
// "contains \"..\""; empty when it is valid. Shared by every implementation so
// that they all refuse the same keys.
std::string_view InvalidKeyReason(std::string_view key);

// Opens the store at `url`: "file:///abs/path" or "s3://bucket[/prefix]" (see
// docs/s3.md). kInvalid for a malformed URL, an unsupported scheme, or an s3://
// URL without credentials. Does not check that a strata store exists there.
Result<std::unique_ptr<ObjectStore>> OpenObjectStore(const std::string& url);

}  // namespace strata
