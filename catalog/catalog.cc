#include "catalog/catalog.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <random>
#include <string_view>
#include <thread>

#include "catalog/catalog_codec.h"

namespace strata {

namespace {

constexpr std::string_view kCatalogPrefix = "catalog/";
constexpr std::string_view kCatalogSuffix = ".json";
constexpr size_t kVersionDigits = 20;
constexpr int kMaxUpdateAttempts = 64;

// After the `attempt`-th lost race for a version: a random pause, up to
// 0.5 ms doubled per attempt (at most 64 ms), so that a writer that keeps
// losing to a faster one gets its turn.
void BackOff(int attempt) {
  thread_local std::minstd_rand rng{std::random_device{}()};
  const int64_t cap_us = std::min<int64_t>(64'000, int64_t{500} << std::min(attempt, 8));
  std::this_thread::sleep_for(
      std::chrono::microseconds(std::uniform_int_distribution<int64_t>(0, cap_us)(rng)));
}

bool ParseCatalogKey(std::string_view key, uint64_t* version) {
  if (key.size() != kCatalogPrefix.size() + kVersionDigits + kCatalogSuffix.size() ||
      !key.starts_with(kCatalogPrefix) || !key.ends_with(kCatalogSuffix)) {
    return false;
  }
  // Twenty digits can exceed 2^64: such a key is not a version.
  const std::string_view digits = key.substr(kCatalogPrefix.size(), kVersionDigits);
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), *version);
  return ec == std::errc() && end == digits.data() + digits.size();
}

// The versions stored, oldest first.
Result<std::vector<uint64_t>> ListVersions(ObjectStore* store) {
  STRATA_ASSIGN_OR_RETURN(std::vector<std::string> keys, store->List(std::string(kCatalogPrefix)));
  std::vector<uint64_t> out;
  for (const std::string& k : keys) {
    uint64_t v = 0;
    if (ParseCatalogKey(k, &v)) out.push_back(v);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<CatalogObject> ReadVersion(ObjectStore* store, uint64_t v) {
  const std::string key = CatalogKey(v);
  STRATA_ASSIGN_OR_RETURN(std::string bytes, store->Get(key));
  return DecodeCatalogObject(bytes, key);
}

// Makes *c version `v` from `o`, the object stored as version v: a whole
// catalog replaces it (and becomes *checkpoint), a delta is applied to it.
Status Advance(CatalogObject o, uint64_t v, CatalogData* c, uint64_t* checkpoint) {
  const std::string key = CatalogKey(v);
  const uint64_t holds = o.whole ? o.whole->version : o.delta->version;
  if (holds != v) {
    return Status::Corruption("catalog " + key + " holds version " + std::to_string(holds));
  }
  if (o.whole) {
    *c = std::move(*o.whole);
    *checkpoint = v;
    return Status::OK();
  }
  return ApplyCatalogDelta(*o.delta, key, c);
}

// A copy of `c` with room to add an entry to each list without moving it
// all again (a copied vector has no spare capacity).
std::shared_ptr<CatalogData> CopyForUpdate(const CatalogData& c) {
  auto next = std::make_shared<CatalogData>();
  next->branches.reserve(c.branches.size() + 1);
  next->snapshots.reserve(c.snapshots.size() + 1);
  next->credentials.reserve(c.credentials.size() + 1);
  next->tokens.reserve(c.tokens.size() + 1);
  *next = c;  // vector assignment keeps the reserved storage
  return next;
}

// Version `newest`: its checkpoint and every version after that, in order.
Result<CatalogData> LoadChain(ObjectStore* store, uint64_t newest, uint64_t* checkpoint) {
  STRATA_ASSIGN_OR_RETURN(CatalogObject last, ReadVersion(store, newest));
  CatalogData c;
  const uint64_t from = last.delta ? last.delta->checkpoint : newest;
  for (uint64_t v = from; v < newest; v++) {
    STRATA_ASSIGN_OR_RETURN(CatalogObject o, ReadVersion(store, v));
    if (v == from && !o.whole) {
      return Status::Corruption("catalog " + CatalogKey(newest) + " names checkpoint " +
                                std::to_string(from) + ", which is not a whole catalog");
    }
    STRATA_RETURN_IF_ERROR(Advance(std::move(o), v, &c, checkpoint));
  }
  STRATA_RETURN_IF_ERROR(Advance(std::move(last), newest, &c, checkpoint));
  return c;
}

}  // namespace

std::string CatalogKey(uint64_t version) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "catalog/%020" PRIu64 ".json", version);
  return buf;
}

Result<CatalogData> LoadCatalogData(ObjectStore* store, uint64_t* checkpoint) {
  for (int attempt = 1;; attempt++) {
    STRATA_ASSIGN_OR_RETURN(std::vector<uint64_t> versions, ListVersions(store));
    uint64_t cp = 0;
    if (versions.empty()) {
      if (checkpoint) *checkpoint = 0;
      return CatalogData{};
    }
    Result<CatalogData> c = LoadChain(store, versions.back(), &cp);
    if (c.ok() && checkpoint) *checkpoint = cp;
    if (c.ok() || !c.status().IsNotFound()) return c;
    if (attempt == 3) {
      return Status::Corruption("catalog version " + std::to_string(versions.back()) +
                                " cannot be read: its chain lacks an object (" +
                                c.status().message() + ")");
    }
  }
}

const BranchInfo* CatalogData::FindBranch(const std::string& name) const {
  for (const auto& b : branches) {
    if (b.name == name && !b.retired) return &b;
  }
  return nullptr;
}

const BranchInfo* CatalogData::FindBranchById(uint32_t id) const {
  for (const auto& b : branches) {
    if (b.id == id) return &b;
  }
  return nullptr;
}

const SnapshotInfo* CatalogData::FindSnapshot(const std::string& name) const {
  for (const auto& s : snapshots) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

const CredentialInfo* CatalogData::FindCredential(const std::string& id) const {
  for (const auto& c : credentials) {
    if (c.id == id) return &c;
  }
  return nullptr;
}

const TokenInfo* CatalogData::FindToken(const std::string& id) const {
  for (const auto& t : tokens) {
    if (t.id == id) return &t;
  }
  return nullptr;
}

std::vector<std::string> CatalogData::ChildrenOf(uint32_t id) const {
  std::vector<std::string> out;
  for (const auto& b : branches) {
    if (b.parent == id) out.push_back(b.name);
  }
  return out;
}

std::vector<std::string> CatalogData::SnapshotsOf(uint32_t id) const {
  std::vector<std::string> out;
  for (const auto& s : snapshots) {
    if (s.branch == id) out.push_back(s.name);
  }
  return out;
}

Lineage CatalogData::LineageOf(uint32_t id, uint64_t max_seq) const {
  Lineage out;
  const BranchInfo* b = FindBranchById(id);
  while (b) {
    out.push_back({b->id, max_seq});
    max_seq = b->fork_seq;
    b = b->parent ? FindBranchById(b->parent) : nullptr;
  }
  return out;
}

std::vector<const BranchInfo*> CatalogData::LiveBranches() const {
  std::vector<const BranchInfo*> out;
  for (const auto& b : branches) {
    if (!b.retired) out.push_back(&b);
  }
  return out;
}

std::vector<uint32_t> CatalogData::PruneRetired() {
  std::vector<uint32_t> dropped;
  for (bool again = true; again;) {
    again = false;
    for (auto it = branches.begin(); it != branches.end(); ++it) {
      if (!it->retired || !ChildrenOf(it->id).empty() || !SnapshotsOf(it->id).empty()) continue;
      dropped.push_back(it->id);
      branches.erase(it);
      again = true;
      break;
    }
  }
  return dropped;
}

Result<std::unique_ptr<Catalog>> Catalog::Load(ObjectStore* store) {
  uint64_t checkpoint = 0;
  STRATA_ASSIGN_OR_RETURN(CatalogData c, LoadCatalogData(store, &checkpoint));
  return std::unique_ptr<Catalog>(
      new Catalog(store, std::make_shared<const CatalogData>(std::move(c)), checkpoint));
}

std::shared_ptr<const CatalogData> Catalog::Current() const {
  MutexLock lock(&mu_);
  return data_;
}

void Catalog::Publish(std::shared_ptr<const CatalogData> data) {
  MutexLock lock(&mu_);
  data_ = std::move(data);
}

Status Catalog::Update(const std::function<Status(CatalogData&)>& mutate) {
  MutexLock update_lock(&update_mu_);
  for (int attempt = 0; attempt < kMaxUpdateAttempts; attempt++) {
    auto next = CopyForUpdate(*Current());
    STRATA_RETURN_IF_ERROR(mutate(*next));
    next->version++;
    STRATA_ASSIGN_OR_RETURN(const bool stored, WriteLocked(*next));
    if (stored) {
      Publish(std::move(next));
      return Status::OK();
    }
    STRATA_RETURN_IF_ERROR(CatchUpLocked());
    BackOff(attempt);
  }
  return Status::Busy("catalog: other writers stored the next version " +
                      std::to_string(kMaxUpdateAttempts) + " times in a row; try again");
}

Status Catalog::Refresh() {
  MutexLock update_lock(&update_mu_);
  return CatchUpLocked();
}

Result<uint64_t> Catalog::NewestVersion() {
  STRATA_ASSIGN_OR_RETURN(std::vector<uint64_t> versions, ListVersions(store_));
  return versions.empty() ? 0 : versions.back();
}

Result<uint64_t> Catalog::CheckpointOf(uint64_t version) {
  STRATA_ASSIGN_OR_RETURN(CatalogObject o, ReadVersion(store_, version));
  return o.delta ? o.delta->checkpoint : version;
}

Result<bool> Catalog::WriteLocked(const CatalogData& next) {
  std::optional<CatalogDelta> delta;
  if (checkpoint_ != 0 && next.version - checkpoint_ < kCheckpointEvery) {
    delta = DiffCatalog(*Current(), next);
  }
  if (delta) delta->checkpoint = checkpoint_;
  const std::string key = CatalogKey(next.version);
  const std::string bytes = delta ? EncodeCatalogDelta(*delta) : EncodeCatalog(next);
  const Status st = store_->PutIfAbsent(key, bytes);
  // kExists: another writer's, even with the very bytes we meant (two
  // daemons reserving the same block of ids write the same version): our
  // own retried write that landed is OK by then (objstore/retrying_store.h).
  if (st.IsExists()) return false;
  if (!st.ok()) {
    // The write may have landed despite the error (a failed directory
    // fsync): if the store holds exactly this version, it did.
    Result<std::string> stored = store_->Get(key);
    if (!stored.ok()) return st;
    if (*stored != bytes) return false;
  }
  // A writer that fell far behind (paused, partitioned) can store a version
  // number that others' cleanup deleted: its write succeeds, and nobody will
  // ever read it. Cleanup deletes only versions before the newest chain's
  // checkpoint, so a version at or after that checkpoint was never deleted:
  // the write is the real successor of the version before it. Before that
  // checkpoint, it is one if the version it follows is still there (another
  // writer's checkpoint may have come right after ours); cleanup deletes
  // every version below a checkpoint, so a write into a deleted number finds
  // its predecessor gone.
  STRATA_ASSIGN_OR_RETURN(const std::vector<uint64_t> versions, ListVersions(store_));
  const uint64_t newest = versions.empty() ? 0 : versions.back();
  if (newest != next.version) {
    // Others wrote after us (or, if the list lacks our version, deleted it).
    STRATA_ASSIGN_OR_RETURN(const uint64_t newest_checkpoint, CheckpointOf(newest));
    const bool follows_live =
        next.version == 1 || std::binary_search(versions.begin(), versions.end(), next.version - 1);
    if (newest < next.version || (next.version < newest_checkpoint && !follows_live)) {
      spdlog::warn(
          "catalog: version {} was stored behind the newest checkpoint {}: this writer "
          "was far behind; reloading the catalog and trying again",
          next.version, newest_checkpoint);
      return false;
    }
  }
  if (!delta) {
    const uint64_t previous = checkpoint_;
    checkpoint_ = next.version;
    DeleteOldVersions(previous);
  }
  return true;
}

Status Catalog::CatchUpLocked() {
  STRATA_ASSIGN_OR_RETURN(const uint64_t newest, NewestVersion());
  if (newest <= Current()->version) return Status::OK();
  STRATA_ASSIGN_OR_RETURN(const uint64_t newest_checkpoint, CheckpointOf(newest));
  uint64_t checkpoint = checkpoint_;
  // Versions at or after the newest checkpoint are never deleted, so from a
  // catalog at or past it the versions after ours can be read one by one;
  // from an older one, load the newest chain.
  bool reload = Current()->version < newest_checkpoint;
  std::shared_ptr<CatalogData> c;
  if (!reload) {
    c = std::make_shared<CatalogData>(*Current());
    for (uint64_t v = c->version + 1; !reload && v <= newest; v++) {
      Result<CatalogObject> o = ReadVersion(store_, v);
      reload = !o.ok() || !Advance(std::move(*o), v, c.get(), &checkpoint).ok();
    }
  }
  if (reload) {
    STRATA_ASSIGN_OR_RETURN(CatalogData loaded, LoadCatalogData(store_, &checkpoint));
    c = std::make_shared<CatalogData>(std::move(loaded));
  }
  if (before_catch_up_) STRATA_RETURN_IF_ERROR(before_catch_up_(*c));
  checkpoint_ = checkpoint;
  Publish(std::move(c));
  return Status::OK();
}

void Catalog::SetBeforeCatchUp(std::function<Status(const CatalogData&)> fn) {
  MutexLock update_lock(&update_mu_);
  before_catch_up_ = std::move(fn);
}

void Catalog::DeleteOldVersions(uint64_t previous_checkpoint) {
  Result<std::vector<uint64_t>> versions = ListVersions(store_);
  if (!versions.ok()) return;  // the next checkpoint tries again
  for (uint64_t v : *versions) {
    if (v >= previous_checkpoint) break;
    const Status st = store_->Delete(CatalogKey(v));
    if (!st.ok() && !st.IsNotFound()) {
      spdlog::warn("catalog: cannot delete old version {}: {}", v, st.ToString());
      return;  // keep "a deleted version has every older one deleted too"
    }
  }
}

}  // namespace strata
