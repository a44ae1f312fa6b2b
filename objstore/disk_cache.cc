#include "objstore/disk_cache.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>

namespace strata {

namespace cf = cache_file;

namespace {

// A hit refreshes its file's mtime at most this often, so the LRU order
// rebuilt from mtimes at the next start is right to within this interval.
constexpr int64_t kTouchIntervalSeconds = 60;
// Errors of the cache disk are logged at most this often.
constexpr std::chrono::seconds kErrorLogInterval{10};
constexpr int64_t kNeverLogged = std::numeric_limits<int64_t>::min();

// Wall-clock seconds, the clock of file mtimes.
int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The payload of the file must be chunk bytes [offset, offset + length) of
// an object of `object_size` bytes.
Status CheckChunk(const cf::CacheFile& f, uint64_t offset, uint64_t length, uint64_t object_size) {
  if (f.offset == offset && f.payload.size() == length && f.object_size == object_size) {
    return Status::OK();
  }
  return Status::Corruption("cache file: holds [" + std::to_string(f.offset) + ", +" +
                            std::to_string(f.payload.size()) + ") of a " +
                            std::to_string(f.object_size) + "-byte object, expected [" +
                            std::to_string(offset) + ", +" + std::to_string(length) + ") of " +
                            std::to_string(object_size) + " bytes");
}

}  // namespace

struct DiskCachedStore::Slot {
  enum class State { kDisk, kWait, kMine };
  State state = State::kMine;
  uint64_t serial = 0;                    // kDisk: the entry found in the index
  bool touch = false;                     // kDisk: refresh the file's mtime
  Flight flight;                          // kWait: another thread's fetch
  std::promise<Result<Payload>> promise;  // kMine: our fetch, awaited by others
};

DiskCachedStore::DiskCachedStore(ObjectStore* target, DiskCacheOptions options)
    : ObjectStoreWrapper(target),
      dir_([&] {
        std::string d = std::move(options.dir);
        while (d.size() > 1 && d.back() == '/') d.pop_back();
        return d;
      }()),
      capacity_(options.capacity_bytes),
      chunk_bytes_(options.chunk_bytes == 0
                       ? DiskCacheOptions::kDefaultChunkBytes
                       : std::min<uint64_t>(options.chunk_bytes, cf::kMaxChunkBytes)),
      cacheable_(std::move(options.cacheable)),
      populate_on_put_(options.populate_on_put),
      last_error_log_ns_(kNeverLogged) {
  Load();
}

DiskCachedStore::~DiskCachedStore() = default;

bool DiskCachedStore::Cacheable(const std::string& key) const {
  return cacheable_ && !key.empty() && key.size() <= cf::kMaxKeyLength && cacheable_(key);
}

std::string DiskCachedStore::PathOf(FileId id) const {
  return dir_ + "/" + cf::FileName(id.hash, id.index);
}

std::string DiskCachedStore::What(std::string_view op, const std::string& key) const {
  return "disk cache " + dir_ + ": " + std::string(op) + " " + key;
}

void DiskCachedStore::Load() {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  size_t removed = 0;
  Result<std::vector<cf::FoundFile>> found =
      ec ? Result<std::vector<cf::FoundFile>>(Status::IO("mkdir " + dir_ + ": " + ec.message()))
         : cf::Scan(dir_, &removed);
  if (!found.ok()) {
    spdlog::warn("disk cache {}: cannot use the directory ({}); reads go to the store", dir_,
                 found.status().message());
    return;
  }
  std::vector<FileId> victims;
  {
    MutexLock lock(&mu_);
    // Oldest first, so the newest ends up at the front. Size records learn
    // their key (and size) when first read.
    for (const cf::FoundFile& f : *found) {
      InsertLocked("", FileId{f.key_hash, f.index}, f.bytes, 0, f.mtime_ns / 1000000000);
    }
    EvictLocked(0, &victims);
  }
  Unlink(victims);
  spdlog::info("disk cache {}: {} files, {} bytes kept; {} stray files removed, {} evicted", dir_,
               found->size() - victims.size(), Stats().bytes, removed, victims.size());
}

Result<cf::CacheFile> DiskCachedStore::ReadFile(const std::string& key, FileId id,
                                                std::string* buf) {
  STRATA_ASSIGN_OR_RETURN(*buf,
                          cf::ReadWhole(PathOf(id), cf::kHeaderSize + key.size() + chunk_bytes_));
  STRATA_ASSIGN_OR_RETURN(cf::CacheFile f, cf::Decode(*buf));
  if (f.key != key || f.index != id.index) {
    // A hash collision, or a file copied or renamed into place.
    std::string what =
        f.index == cf::kSizeRecord ? "the size record" : "chunk " + std::to_string(f.index);
    return Status::Corruption("cache file: holds " + what + " of key \"" + std::string(f.key) +
                              "\"");
  }
  return f;
}

void DiskCachedStore::HandleBadFile(const std::string& key, FileId id, uint64_t serial,
                                    const Status& s) {
  if (s.code() == Code::kCorruption) {
    corrupt_++;
    spdlog::warn("disk cache: {} (key {}) is corrupt: {}; deleted, refetching from the store",
                 PathOf(id), key, s.message());
  } else if (!s.IsNotFound()) {  // gone is not an error: evicted or dropped meanwhile
    read_errors_++;
    LogDiskError(s);
  }
  bool forget = false;
  {
    MutexLock lock(&mu_);
    auto o = objects_.find(id.hash);
    if (o != objects_.end()) {
      auto f = o->second.files.find(id.index);
      if (f != o->second.files.end() && f->second->serial == serial) {
        unlinking_.insert(id);
        RemoveLocked(f->second);
        forget = true;
      }
    }
  }
  if (forget) Unlink({id});
}

void DiskCachedStore::TouchFile(FileId id) {
  // Best effort: a stale mtime only makes the LRU order after a restart
  // slightly less exact.
  if (utimensat(AT_FDCWD, PathOf(id).c_str(), nullptr, 0) != 0) return;
}

Result<uint64_t> DiskCachedStore::ObjectSize(const std::string& key, uint64_t hash) {
  const FileId id{hash, cf::kSizeRecord};
  uint64_t serial = 0;
  uint64_t epoch;
  bool touch = false;
  std::optional<uint64_t> known;
  {
    MutexLock lock(&mu_);
    epoch = EpochLocked(hash);
    auto o = objects_.find(hash);
    if (o != objects_.end()) {
      auto f = o->second.files.find(cf::kSizeRecord);
      if (f != o->second.files.end()) {
        lru_.splice(lru_.begin(), lru_, f->second);
        serial = f->second->serial;
        const int64_t now_s = NowSeconds();
        if (now_s - f->second->touched_s >= kTouchIntervalSeconds) {
          f->second->touched_s = now_s;
          touch = true;
        }
        if (o->second.size_key == key) known = o->second.size;
      }
    }
  }
  if (known) {
    if (touch) TouchFile(id);
    return *known;
  }
  if (serial != 0) {
    std::string buf;
    Result<cf::CacheFile> f = ReadFile(key, id, &buf);
    if (f.ok()) {
      if (touch) TouchFile(id);
      MutexLock lock(&mu_);
      auto o = objects_.find(hash);
      if (o != objects_.end()) {
        auto e = o->second.files.find(cf::kSizeRecord);
        if (e != o->second.files.end() && e->second->serial == serial) {
          o->second.size_key = key;
          o->second.size = f->object_size;
        }
      }
      return f->object_size;
    }
    HandleBadFile(key, id, serial, f.status());
  }
  STRATA_ASSIGN_OR_RETURN(uint64_t size, target()->Size(key));
  Store(key, id, 0, size, "", epoch);
  return size;
}

void DiskCachedStore::ClaimLocked(const std::string& key, uint64_t index, Slot& slot) {
  FlightKey fk{key, index};
  auto it = flights_.find(fk);
  if (it != flights_.end()) {
    slot.state = Slot::State::kWait;
    slot.flight = it->second;
    return;
  }
  slot.state = Slot::State::kMine;
  flights_.emplace(std::move(fk), slot.promise.get_future().share());
}

// The caller's bytes [offset, offset + len) of an object of `size` bytes,
// assembled from the chunks of `cb` bytes numbered `first` on.
struct DiskCachedStore::RangeBuffer {
  RangeBuffer(uint64_t offset_, uint64_t len_, uint64_t size_, uint64_t cb_)
      : offset(offset_), len(len_), size(size_), cb(cb_), first(offset_ / cb_), out(len_, '\0') {}

  // Chunks the range touches.
  size_t Chunks() const { return static_cast<size_t>((offset + len - 1) / cb - first + 1); }
  // The length of chunk `i` of the range (the last chunk of the object may be short).
  uint64_t ChunkLength(size_t i) const { return std::min(cb, size - (first + i) * cb); }
  // Copies the part of chunk `i` (all of its payload) that the caller asked
  // for; returns its length.
  uint64_t Place(size_t i, std::string_view chunk) {
    const uint64_t start = (first + i) * cb;
    const uint64_t lo = std::max(offset, start);
    const uint64_t hi = std::min(offset + len, start + chunk.size());
    memcpy(out.data() + (lo - offset), chunk.data() + (lo - start), hi - lo);
    return hi - lo;
  }

  const uint64_t offset, len, size, cb, first;
  std::string out;
};

Result<std::string> DiskCachedStore::ReadRange(const std::string& key, uint64_t hash,
                                               uint64_t offset, uint64_t len, uint64_t size) {
  RangeBuffer range(offset, len, size, chunk_bytes_);
  std::vector<Slot> slots(range.Chunks());
  const uint64_t epoch = ClaimChunks(key, hash, range.first, slots);
  ServeHits(key, hash, slots, range);
  // Fetch what this thread claimed even after an error: others wait for it.
  Status status = FetchClaimed(key, hash, slots, epoch, range);
  Status waited = CollectWaited(key, slots, range);
  if (status.ok()) status = std::move(waited);
  STRATA_RETURN_IF_ERROR(status);
  return std::move(range.out);
}

uint64_t DiskCachedStore::ClaimChunks(const std::string& key, uint64_t hash, uint64_t first,
                                      std::vector<Slot>& slots) {
  MutexLock lock(&mu_);
  const uint64_t epoch = EpochLocked(hash);
  const int64_t now_s = NowSeconds();
  auto o = objects_.find(hash);
  for (size_t i = 0; i < slots.size(); i++) {
    Slot& s = slots[i];
    if (o != objects_.end()) {
      if (auto f = o->second.files.find(first + i); f != o->second.files.end()) {
        s.state = Slot::State::kDisk;
        s.serial = f->second->serial;
        if (now_s - f->second->touched_s >= kTouchIntervalSeconds) {
          f->second->touched_s = now_s;
          s.touch = true;
        }
        lru_.splice(lru_.begin(), lru_, f->second);
        continue;
      }
    }
    ClaimLocked(key, first + i, s);
  }
  return epoch;
}

void DiskCachedStore::ServeHits(const std::string& key, uint64_t hash, std::vector<Slot>& slots,
                                RangeBuffer& range) {
  uint64_t hits = 0;
  for (size_t i = 0; i < slots.size(); i++) {
    Slot& s = slots[i];
    if (s.state != Slot::State::kDisk) continue;
    const FileId id{hash, range.first + i};
    std::string buf;
    Result<cf::CacheFile> f = ReadFile(key, id, &buf);
    Status st =
        f.ok() ? CheckChunk(*f, id.index * range.cb, range.ChunkLength(i), range.size) : f.status();
    if (st.ok()) {
      if (s.touch) TouchFile(id);
      hit_bytes_ += range.Place(i, f->payload);
      hits++;
      continue;
    }
    HandleBadFile(key, id, s.serial, st);
    MutexLock lock(&mu_);
    ClaimLocked(key, id.index, s);
  }
  hits_ += hits;
  misses_ += slots.size() - hits;
}

Status DiskCachedStore::FetchClaimed(const std::string& key, uint64_t hash,
                                     std::vector<Slot>& slots, uint64_t epoch, RangeBuffer& range) {
  Status status;
  for (size_t i = 0; i < slots.size();) {
    if (slots[i].state != Slot::State::kMine) {
      i++;
      continue;
    }
    size_t end = i + 1;
    while (end < slots.size() && slots[end].state == Slot::State::kMine) end++;
    Result<std::string> run = FetchRun(key, hash, range.first, slots, i, end, range.size, epoch);
    if (!run.ok() && status.ok()) status = run.status();
    for (const size_t begin = i; i < end; i++) {
      if (run.ok()) {
        range.Place(i, std::string_view(*run).substr((i - begin) * range.cb, range.ChunkLength(i)));
      }
    }
  }
  return status;
}

Status DiskCachedStore::CollectWaited(const std::string& key, std::vector<Slot>& slots,
                                      RangeBuffer& range) {
  Status status;
  for (size_t i = 0; i < slots.size(); i++) {
    if (slots[i].state != Slot::State::kWait) continue;
    const Result<Payload>& r = slots[i].flight.get();
    if (r.ok() && (*r)->size() != range.ChunkLength(i)) {
      // Another reader saw another size: the object changed under us.
      if (status.ok()) status = Status::IO(What("get-range", key) + ": object changed size");
    } else if (!r.ok()) {
      if (status.ok()) status = r.status();
    } else {
      range.Place(i, **r);
    }
  }
  return status;
}

Result<std::string> DiskCachedStore::FetchRun(const std::string& key, uint64_t hash, uint64_t first,
                                              std::vector<Slot>& slots, size_t begin, size_t end,
                                              uint64_t size, uint64_t epoch) {
  const uint64_t cb = chunk_bytes_;
  const uint64_t from = (first + begin) * cb;
  const uint64_t to = std::min((first + end) * cb, size);
  Result<std::string> run = target()->GetRange(key, from, to - from);
  if (run.ok() && run->size() != to - from) {
    run =
        Status::IO(What("get-range", key) + ": the store returned " + std::to_string(run->size()) +
                   " bytes for a range of " + std::to_string(to - from));
  }
  std::vector<Payload> chunks;
  if (run.ok()) {
    fetched_bytes_ += run->size();
    for (size_t i = begin; i < end; i++) {
      const uint64_t start = (i - begin) * cb;
      chunks.push_back(std::make_shared<const std::string>(run->substr(start, cb)));
    }
  }
  // Waiters get the bytes (or the error) before we spend time on the disk.
  for (size_t i = begin; i < end; i++) {
    if (run.ok()) {
      slots[i].promise.set_value(chunks[i - begin]);
    } else {
      slots[i].promise.set_value(run.status());
    }
  }
  for (size_t i = 0; i < chunks.size(); i++) {
    const uint64_t index = first + begin + i;
    Store(key, FileId{hash, index}, index * cb, size, *chunks[i], epoch);
  }
  // Only now, with the chunks indexed, may a new reader miss them again.
  MutexLock lock(&mu_);
  for (size_t i = begin; i < end; i++) flights_.erase(FlightKey{key, first + i});
  return run;
}

void DiskCachedStore::Store(const std::string& key, FileId id, uint64_t offset,
                            uint64_t object_size, std::string_view payload, uint64_t epoch) {
  const std::string file = cf::Encode(key, id.index, offset, object_size, payload);
  const uint64_t n = file.size();
  std::vector<FileId> victims;
  bool reserved = false;
  {
    MutexLock lock(&mu_);
    // One writer per file, and only while the file is neither indexed nor
    // being unlinked: so nobody else touches it until we index it below.
    // (An indexed file of the same key already holds these very bytes.)
    auto o = objects_.find(id.hash);
    if (n > capacity_ || EpochLocked(id.hash) != epoch ||
        (o != objects_.end() && o->second.files.count(id.index) != 0) || writing_.count(id) != 0 ||
        unlinking_.count(id) != 0) {
      return;
    }
    EvictLocked(n, &victims);
    // If files other threads are writing still fill the cap, skip this one.
    reserved = bytes_ + n <= capacity_;
    if (reserved) {
      bytes_ += n;
      writing_.insert(id);
    }
  }
  Unlink(victims);
  if (!reserved) return;
  Status s = cf::WriteAtomically(PathOf(id), file);
  bool stale = false;
  {
    MutexLock lock(&mu_);
    bytes_ -= n;  // the reservation; InsertLocked counts the file again
    writing_.erase(id);
    if (s.ok()) {
      stale = EpochLocked(id.hash) != epoch;
      if (stale) {
        unlinking_.insert(id);
      } else {
        InsertLocked(key, id, n, object_size, NowSeconds());
      }
    }
  }
  if (!s.ok()) {
    write_errors_++;
    LogDiskError(s);
  }
  if (stale) Unlink({id});
}

void DiskCachedStore::Populate(const std::string& key, std::string_view data) {
  if (data.size() > capacity_) return;  // it would only evict itself
  const uint64_t hash = cf::KeyHash(key);
  uint64_t epoch;
  {
    MutexLock lock(&mu_);
    epoch = EpochLocked(hash);
  }
  Store(key, FileId{hash, cf::kSizeRecord}, 0, data.size(), "", epoch);
  for (uint64_t off = 0; off < data.size(); off += chunk_bytes_) {
    Store(key, FileId{hash, off / chunk_bytes_}, off, data.size(), data.substr(off, chunk_bytes_),
          epoch);
  }
}

void DiskCachedStore::DropKey(const std::string& key) {
  const uint64_t hash = cf::KeyHash(key);
  std::vector<FileId> ids;
  {
    MutexLock lock(&mu_);
    EpochLocked(hash)++;
    auto o = objects_.find(hash);
    if (o == objects_.end()) return;
    std::vector<Lru::iterator> entries;
    for (const auto& [index, it] : o->second.files) entries.push_back(it);
    for (Lru::iterator it : entries) {
      ids.push_back(it->id);
      unlinking_.insert(it->id);
      RemoveLocked(it);  // may erase *o
    }
  }
  Unlink(ids);
}

void DiskCachedStore::Unlink(const std::vector<FileId>& ids) {
  if (ids.empty()) return;
  for (FileId id : ids) {
    const std::string path = PathOf(id);
    if (unlink(path.c_str()) != 0 && errno != ENOENT) {
      LogDiskError(Status::FromErrno(errno, "unlink " + path));
    }
  }
  MutexLock lock(&mu_);
  for (FileId id : ids) unlinking_.erase(id);
}

void DiskCachedStore::LogDiskError(const Status& s) {
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  int64_t last = last_error_log_ns_.load();
  const int64_t interval = std::chrono::nanoseconds(kErrorLogInterval).count();
  if (last != kNeverLogged && now - last < interval) return;
  if (!last_error_log_ns_.compare_exchange_strong(last, now)) return;  // another thread logs
  spdlog::warn(
      "disk cache {}: {} ({} write and {} read errors so far; reads are served from the store, "
      "next report in {} s at the earliest)",
      dir_, s.message(), write_errors_.load(), read_errors_.load(), kErrorLogInterval.count());
}

void DiskCachedStore::EvictLocked(uint64_t incoming, std::vector<FileId>* victims) {
  while (bytes_ + incoming > capacity_ && !lru_.empty()) {
    auto victim = std::prev(lru_.end());
    victims->push_back(victim->id);
    unlinking_.insert(victim->id);
    RemoveLocked(victim);
    evictions_++;
  }
}

void DiskCachedStore::RemoveLocked(Lru::iterator it) {
  const FileId id = it->id;
  bytes_ -= it->bytes;
  if (id.index != cf::kSizeRecord) chunks_--;
  auto o = objects_.find(id.hash);
  o->second.files.erase(id.index);
  if (id.index == cf::kSizeRecord) o->second.size_key.clear();
  if (o->second.files.empty()) objects_.erase(o);
  lru_.erase(it);
}

void DiskCachedStore::InsertLocked(const std::string& key, FileId id, uint64_t bytes,
                                   uint64_t object_size, int64_t touched_s) {
  lru_.push_front(LruEntry{id, bytes, next_serial_++, touched_s});
  Object& o = objects_[id.hash];
  o.files[id.index] = lru_.begin();
  bytes_ += bytes;
  if (id.index == cf::kSizeRecord) {
    o.size_key = key;
    o.size = object_size;
  } else {
    chunks_++;
  }
}

Status DiskCachedStore::Put(const std::string& key, std::string_view data) {
  if (!Cacheable(key)) return target()->Put(key, data);
  Status s = target()->Put(key, data);
  DropKey(key);  // whatever happened, the cached copy may be stale
  if (s.ok() && populate_on_put_) Populate(key, data);
  return s;
}

Status DiskCachedStore::PutIfAbsent(const std::string& key, std::string_view data) {
  if (!Cacheable(key)) return target()->PutIfAbsent(key, data);
  Status s = target()->PutIfAbsent(key, data);
  if (s.IsExists()) return s;  // nothing changed
  DropKey(key);
  if (s.ok() && populate_on_put_) Populate(key, data);
  return s;
}

Result<std::string> DiskCachedStore::Get(const std::string& key) {
  if (!Cacheable(key)) return target()->Get(key);
  const uint64_t hash = cf::KeyHash(key);
  STRATA_ASSIGN_OR_RETURN(uint64_t size, ObjectSize(key, hash));
  if (size == 0) return std::string();
  return ReadRange(key, hash, 0, size, size);
}

Result<std::string> DiskCachedStore::GetRange(const std::string& key, uint64_t offset,
                                              uint64_t len) {
  if (!Cacheable(key)) return target()->GetRange(key, offset, len);
  const uint64_t hash = cf::KeyHash(key);
  STRATA_ASSIGN_OR_RETURN(uint64_t size, ObjectSize(key, hash));
  if (offset > size || len > size - offset) {
    return Status::Invalid(What("get-range", key) + ": range [" + std::to_string(offset) + ", +" +
                           std::to_string(len) + ") runs past the end of the object (" +
                           std::to_string(size) + " bytes)");
  }
  if (len == 0) return std::string();
  return ReadRange(key, hash, offset, len, size);
}

Result<uint64_t> DiskCachedStore::Size(const std::string& key) {
  if (!Cacheable(key)) return target()->Size(key);
  return ObjectSize(key, cf::KeyHash(key));
}

Status DiskCachedStore::Delete(const std::string& key) {
  Status s = target()->Delete(key);
  if (Cacheable(key)) DropKey(key);
  return s;
}

Status DiskCachedStore::DeleteMany(const std::vector<std::string>& keys) {
  Status s = target()->DeleteMany(keys);
  for (const std::string& key : keys) {
    if (Cacheable(key)) DropKey(key);
  }
  return s;
}

void DiskCachedStore::Invalidate(const std::string& key) {
  if (Cacheable(key)) DropKey(key);
  target()->Invalidate(key);
}

DiskCacheStats DiskCachedStore::Stats() const {
  DiskCacheStats s;
  {
    MutexLock lock(&mu_);
    s.bytes = bytes_;
    s.chunks = chunks_;
    s.evictions = evictions_;
  }
  s.capacity = capacity_;
  s.hits = hits_.load();
  s.misses = misses_.load();
  s.hit_bytes = hit_bytes_.load();
  s.fetched_bytes = fetched_bytes_.load();
  s.corrupt = corrupt_.load();
  s.write_errors = write_errors_.load();
  s.read_errors = read_errors_.load();
  return s;
}

}  // namespace strata
