#include "objstore/metered_store.h"

namespace strata {

void MeteredStore::Note(const Status& st) {
  if (!st.ok() && !st.IsNotFound() && !st.IsExists()) errors_.fetch_add(1);
}

Status MeteredStore::Put(const std::string& k, std::string_view d) {
  writes_.fetch_add(1);
  Status st = target()->Put(k, d);
  if (st.ok()) write_bytes_.fetch_add(d.size());
  Note(st);
  return st;
}

Status MeteredStore::PutIfAbsent(const std::string& k, std::string_view d) {
  writes_.fetch_add(1);
  Status st = target()->PutIfAbsent(k, d);
  if (st.ok()) write_bytes_.fetch_add(d.size());
  Note(st);
  return st;
}

Result<std::string> MeteredStore::Get(const std::string& k) {
  reads_.fetch_add(1);
  Result<std::string> r = target()->Get(k);
  if (r.ok()) read_bytes_.fetch_add(r->size());
  Note(r.status());
  return r;
}

Result<std::string> MeteredStore::GetRange(const std::string& k, uint64_t off, uint64_t len) {
  reads_.fetch_add(1);
  Result<std::string> r = target()->GetRange(k, off, len);
  if (r.ok()) read_bytes_.fetch_add(r->size());
  Note(r.status());
  return r;
}

Result<uint64_t> MeteredStore::Size(const std::string& k) {
  heads_.fetch_add(1);
  Result<uint64_t> r = target()->Size(k);
  Note(r.status());
  return r;
}

Result<std::vector<std::string>> MeteredStore::List(const std::string& p) {
  lists_.fetch_add(1);
  Result<std::vector<std::string>> r = target()->List(p);
  Note(r.status());
  return r;
}

Status MeteredStore::Delete(const std::string& k) {
  deletes_.fetch_add(1);
  Status st = target()->Delete(k);
  Note(st);
  return st;
}

Status MeteredStore::DeleteMany(const std::vector<std::string>& k) {
  deletes_.fetch_add(k.size());
  Status st = target()->DeleteMany(k);
  Note(st);
  return st;
}

MeterStats MeteredStore::Stats() const {
  MeterStats s;
  s.reads = reads_.load();
  s.read_bytes = read_bytes_.load();
  s.writes = writes_.load();
  s.write_bytes = write_bytes_.load();
  s.heads = heads_.load();
  s.lists = lists_.load();
  s.deletes = deletes_.load();
  s.errors = errors_.load();
  return s;
}

}  // namespace strata
