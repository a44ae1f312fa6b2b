#include "layers/index.h"

#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include "common/coding.h"

namespace strata {

namespace {

enum : uint8_t { kTombstone = 0, kInline = 1, kRef = 2 };

std::string BranchPrefix(char tag, uint32_t branch) {
  std::string k(1, tag);
  PutBig32(&k, branch);
  return k;
}

// User keys are escaped (0x00 -> 0x00 0xFF) and end in 0x00 0x00, which keeps
// byte order and makes them prefix-free: a key that is a prefix of another
// still sorts, with all its versions, before the longer one.
void AppendEscaped(std::string* dst, std::string_view key) {
  for (char c : key) {
    dst->push_back(c);
    if (c == '\0') dst->push_back('\xff');
  }
}

std::string VersionKey(uint32_t branch, std::string_view key, uint64_t seq) {
  std::string k = BranchPrefix('v', branch);
  AppendEscaped(&k, key);
  k.append(2, '\0');
  PutBig64(&k, ~seq);
  return k;
}

// The user key of an escaped key body (without branch prefix and seq).
std::string Unescape(std::string_view body) {
  std::string out;
  out.reserve(body.size());
  for (size_t i = 0; i < body.size(); i++) {
    if (body[i] == '\0') {
      if (i + 1 < body.size() && body[i + 1] == '\xff') {
        out.push_back('\0');
        i++;
        continue;
      }
      break;  // the 0x00 0x00 terminator
    }
    out.push_back(body[i]);
  }
  return out;
}

std::string LayerMarker(uint32_t branch, uint32_t layer_no) {
  std::string k = BranchPrefix('l', branch);
  PutBig32(&k, layer_no);
  return k;
}

std::string EncodeVersion(uint32_t layer_branch, uint32_t layer_no, const LayerEntry& e) {
  std::string v;
  if (e.tombstone) {
    v.push_back(static_cast<char>(kTombstone));
  } else if (e.inline_value) {
    v.push_back(static_cast<char>(kInline));
    v.append(e.value);
  } else {
    v.push_back(static_cast<char>(kRef));
    PutFixed32(&v, layer_branch);
    PutFixed32(&v, layer_no);
    PutFixed64(&v, e.ref.offset);
    PutFixed32(&v, e.ref.length);
    PutFixed32(&v, e.ref.raw_length);
    PutFixed64(&v, e.ref.checksum);
  }
  return v;
}

Status DecodeVersion(std::string_view in, uint64_t seq, IndexedVersion* out) {
  if (in.empty()) return Status::Corruption("index: empty version value");
  out->seq = seq;
  uint8_t type = static_cast<uint8_t>(in[0]);
  in.remove_prefix(1);
  switch (type) {
    case kTombstone:
      out->tombstone = true;
      return Status::OK();
    case kInline:
      out->inline_value = true;
      out->value.assign(in);
      return Status::OK();
    case kRef: {
      Reader r(in);
      if (r.GetFixed32(&out->layer_branch) && r.GetFixed32(&out->layer_no) &&
          r.GetFixed64(&out->ref.offset) && r.GetFixed32(&out->ref.length) &&
          r.GetFixed32(&out->ref.raw_length) && r.GetFixed64(&out->ref.checksum)) {
        return Status::OK();
      }
      break;
    }
  }
  return Status::Corruption("index: malformed version value (delete the index to rebuild it)");
}

// The index is a cache of the store: a write lost in a crash (entries and
// their layer marker go in one batch) is re-indexed from the layer on the
// next mount, so RocksDB's own WAL is pure overhead. Memtables are flushed
// on a clean close.
rocksdb::WriteOptions CacheWrite() {
  rocksdb::WriteOptions w;
  w.disableWAL = true;
  return w;
}

Status FromRocks(const rocksdb::Status& s, const char* what) {
  if (s.ok()) return Status::OK();
  if (s.IsNoSpace()) return Status::NoSpace(std::string("index ") + what + ": " + s.ToString());
  return Status::IO(std::string("index ") + what + ": " + s.ToString());
}

}  // namespace

Index::~Index() { delete db_; }

Result<std::unique_ptr<Index>> Index::Open(const std::string& dir) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.compression = rocksdb::kNoCompression;
  options.max_background_jobs = 2;
  options.write_buffer_size = 32 << 20;
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.block_cache = rocksdb::NewLRUCache(64 << 20);
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  // Compactions of a cache must not take CPU from the FUSE threads.
  options.env->LowerThreadPoolCPUPriority(rocksdb::Env::Priority::LOW);
  options.env->LowerThreadPoolCPUPriority(rocksdb::Env::Priority::HIGH);
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir, &db);
  if (!s.ok()) return Status::IO("open index " + dir + ": " + s.ToString());
  return std::unique_ptr<Index>(new Index(db));
}

bool Index::HasLayer(uint32_t branch, uint32_t layer_no) {
  std::string v;
  return db_->Get(rocksdb::ReadOptions(), LayerMarker(branch, layer_no), &v).ok();
}

namespace {

void PutLayer(rocksdb::WriteBatch* batch, uint32_t branch, uint32_t layer_no,
              const std::vector<LayerEntry>& entries, const std::vector<TimePoint>& times) {
  for (const LayerEntry& e : entries) {
    batch->Put(VersionKey(branch, e.key, e.seq), EncodeVersion(branch, layer_no, e));
  }
  for (const TimePoint& t : times) {
    std::string k = BranchPrefix('t', branch);
    PutBig64(&k, t.time_ns);
    std::string v;
    PutFixed64(&v, t.seq);
    batch->Put(k, v);
  }
  batch->Put(LayerMarker(branch, layer_no), "");
}

}  // namespace

Status Index::AddLayer(uint32_t branch, uint32_t layer_no, const std::vector<LayerEntry>& entries,
                       const std::vector<TimePoint>& times) {
  rocksdb::WriteBatch batch;
  PutLayer(&batch, branch, layer_no, entries, times);
  return FromRocks(db_->Write(CacheWrite(), &batch), "write");
}

Result<std::vector<uint32_t>> Index::Layers(uint32_t branch) {
  const std::string prefix = BranchPrefix('l', branch);
  std::vector<uint32_t> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->key().size() == prefix.size() + 4) {
      out.push_back(DecodeBig32(it->key().data() + prefix.size()));
    }
  }
  STRATA_RETURN_IF_ERROR(FromRocks(it->status(), "scan"));
  return out;
}

Status Index::ApplyCompaction(uint32_t branch, const std::vector<uint32_t>& removed,
                              const std::vector<std::pair<std::string, uint64_t>>& pruned,
                              const std::vector<AddedLayer>& added,
                              const std::vector<Repointed>& repointed) {
  rocksdb::WriteBatch batch;
  for (uint32_t no : removed) batch.Delete(LayerMarker(branch, no));
  for (const auto& [key, seq] : pruned) batch.Delete(VersionKey(branch, key, seq));
  // Later operations of a batch win: entries the new layers hold are put
  // after any delete of the same version.
  for (const AddedLayer& a : added) PutLayer(&batch, branch, a.no, *a.entries, *a.times);
  for (const Repointed& r : repointed) {
    batch.Put(VersionKey(branch, r.entry->key, r.entry->seq),
              EncodeVersion(branch, r.layer_no, *r.entry));
  }
  return FromRocks(db_->Write(CacheWrite(), &batch), "compaction");
}

Result<std::optional<IndexedVersion>> Index::Get(uint32_t branch, std::string_view key,
                                                 uint64_t max_seq) {
  std::string target = VersionKey(branch, key, max_seq);
  std::string_view want(target.data(), target.size() - 8);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  it->Seek(target);
  if (!it->Valid()) {
    STRATA_RETURN_IF_ERROR(FromRocks(it->status(), "seek"));
    return std::optional<IndexedVersion>();
  }
  rocksdb::Slice found = it->key();
  if (found.size() != target.size() || std::string_view(found.data(), want.size()) != want) {
    return std::optional<IndexedVersion>();
  }
  IndexedVersion v;
  uint64_t seq = ~DecodeBig64(found.data() + want.size());
  STRATA_RETURN_IF_ERROR(DecodeVersion(it->value().ToStringView(), seq, &v));
  return std::optional<IndexedVersion>(std::move(v));
}

Status Index::Scan(uint32_t branch, std::string_view prefix, uint64_t max_seq,
                   const std::function<void(std::string_view, const IndexedVersion&)>& fn,
                   std::string_view from) {
  std::string start = BranchPrefix('v', branch);
  const size_t head = start.size();
  AppendEscaped(&start, prefix);
  std::string seek = BranchPrefix('v', branch);
  AppendEscaped(&seek, from > prefix ? from : prefix);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  std::string last;
  bool have_last = false;
  for (it->Seek(seek); it->Valid(); it->Next()) {
    std::string_view ik = it->key().ToStringView();
    if (ik.substr(0, start.size()) != start) break;
    std::string_view body = ik.substr(head, ik.size() - head - 8);
    if (have_last && body == last) continue;
    uint64_t seq = ~DecodeBig64(ik.data() + ik.size() - 8);
    if (seq > max_seq) continue;
    IndexedVersion v;
    STRATA_RETURN_IF_ERROR(DecodeVersion(it->value().ToStringView(), seq, &v));
    fn(Unescape(body), v);
    last.assign(body);
    have_last = true;
  }
  return FromRocks(it->status(), "scan");
}

Result<std::optional<TimePoint>> Index::SeqAtTime(uint32_t branch, uint64_t t) {
  std::string prefix = BranchPrefix('t', branch);
  std::string target = prefix;
  PutBig64(&target, t);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  it->SeekForPrev(target);
  if (!it->Valid() || !it->key().starts_with(prefix) || it->value().size() != 8) {
    STRATA_RETURN_IF_ERROR(FromRocks(it->status(), "seek"));
    return std::optional<TimePoint>();
  }
  TimePoint p;
  p.time_ns = DecodeBig64(it->key().data() + prefix.size());
  p.seq = DecodeFixed64(it->value().data());
  return std::optional<TimePoint>(p);
}

Status Index::DropBranch(uint32_t branch) {
  rocksdb::WriteBatch batch;
  for (char tag : {'v', 'l', 't'}) {
    std::string begin = BranchPrefix(tag, branch);
    std::string end = BranchPrefix(tag, branch + 1);
    batch.DeleteRange(begin, end);
  }
  return FromRocks(db_->Write(CacheWrite(), &batch), "drop branch");
}

uint64_t Index::ApproximateBytes() {
  uint64_t v = 0;
  db_->GetIntProperty("rocksdb.total-sst-files-size", &v);
  return v;
}

}  // namespace strata
