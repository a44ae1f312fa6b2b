#include "common/status.h"

#include <cerrno>
#include <cstring>

namespace strata {

Status Status::FromErrno(int err, const std::string& what) {
  std::string msg = what + ": " + std::strerror(err);
  switch (err) {
    case ENOENT:
      return {Code::kNotFound, msg};
    case EEXIST:
      return {Code::kExists, msg};
    case ENOSPC:
    case EDQUOT:
      return {Code::kNoSpace, msg};
    case ENOTEMPTY:
      return {Code::kNotEmpty, msg};
    case ENOTDIR:
      return {Code::kNotDir, msg};
    case EISDIR:
      return {Code::kIsDir, msg};
    case EACCES:
    case EPERM:
      return {Code::kPermission, msg};
    case EROFS:
      return {Code::kReadOnly, msg};
    case EBUSY:
      return {Code::kBusy, msg};
    case EINVAL:
      return {Code::kInvalid, msg};
    case EINTR:
    case EAGAIN:
      return {Code::kIO, msg, true};
    default:
      return {Code::kIO, msg};
  }
}

int Status::ToErrno() const {
  switch (code_) {
    case Code::kOk:
      return 0;
    case Code::kNotFound:
      return ENOENT;
    case Code::kExists:
      return EEXIST;
    case Code::kInvalid:
      return EINVAL;
    case Code::kBusy:
      return EBUSY;
    case Code::kNoSpace:
      return ENOSPC;
    case Code::kNotEmpty:
      return ENOTEMPTY;
    case Code::kNotDir:
      return ENOTDIR;
    case Code::kIsDir:
      return EISDIR;
    case Code::kPermission:
      return EPERM;
    case Code::kReadOnly:
      return EROFS;
    case Code::kTooBig:
      return ENAMETOOLONG;
    case Code::kNotSupported:
      return EOPNOTSUPP;
    case Code::kQuota:
      return EDQUOT;
    case Code::kIO:
    case Code::kCorruption:
    case Code::kUnavailable:
      return EIO;
  }
  return EIO;
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return msg_;
}

}  // namespace strata
