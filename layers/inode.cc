#include "layers/inode.h"

#include <ctime>

#include "common/coding.h"

namespace strata {

namespace {
constexpr uint8_t kAttrVersion = 1;
constexpr size_t kAttrSize = 1 + 8 + 4 * 4 + 8 * 4 + 8 * 3;
}  // namespace

std::string EncodeInodeAttr(const InodeAttr& a) {
  std::string v;
  v.reserve(kAttrSize);
  v.push_back(static_cast<char>(kAttrVersion));
  PutFixed64(&v, a.ino);
  PutFixed32(&v, a.mode);
  PutFixed32(&v, a.uid);
  PutFixed32(&v, a.gid);
  PutFixed32(&v, a.nlink);
  PutFixed64(&v, a.size);
  PutFixed64(&v, a.data_id);
  PutFixed64(&v, a.rdev);
  PutFixed64(&v, a.parent);
  PutFixed64(&v, static_cast<uint64_t>(a.atime_ns));
  PutFixed64(&v, static_cast<uint64_t>(a.mtime_ns));
  PutFixed64(&v, static_cast<uint64_t>(a.ctime_ns));
  return v;
}

bool DecodeInodeAttr(std::string_view v, InodeAttr* a) {
  if (v.size() != kAttrSize || static_cast<uint8_t>(v[0]) != kAttrVersion) return false;
  Reader r(v.substr(1));
  uint64_t at = 0, mt = 0, ct = 0;
  const bool ok = r.GetFixed64(&a->ino) && r.GetFixed32(&a->mode) && r.GetFixed32(&a->uid) &&
                  r.GetFixed32(&a->gid) && r.GetFixed32(&a->nlink) && r.GetFixed64(&a->size) &&
                  r.GetFixed64(&a->data_id) && r.GetFixed64(&a->rdev) && r.GetFixed64(&a->parent) &&
                  r.GetFixed64(&at) && r.GetFixed64(&mt) && r.GetFixed64(&ct);
  if (!ok) return false;
  a->atime_ns = static_cast<int64_t>(at);
  a->mtime_ns = static_cast<int64_t>(mt);
  a->ctime_ns = static_cast<int64_t>(ct);
  return true;
}

}  // namespace strata
