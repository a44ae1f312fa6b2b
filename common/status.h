// Status and Result<T>: how every layer of strata reports failure.
//
// A Status carries a code, a message meant for a person, and whether retrying
// the same call may succeed (object-store throttling, timeouts). Errors are
// converted to errno exactly once, at the FUSE callback.
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace strata {

enum class Code {
  kOk = 0,
  kNotFound,      // ENOENT
  kExists,        // EEXIST
  kInvalid,       // EINVAL: bad input from a caller
  kIO,            // EIO: an operation failed
  kCorruption,    // EIO: a checksum or format check failed
  kBusy,          // EBUSY
  kNoSpace,       // ENOSPC
  kNotEmpty,      // ENOTEMPTY
  kNotDir,        // ENOTDIR
  kIsDir,         // EISDIR
  kPermission,    // EPERM
  kReadOnly,      // EROFS
  kUnavailable,   // EIO after retries: a service could not be reached
  kTooBig,        // ENAMETOOLONG
  kNotSupported,  // EOPNOTSUPP
  kQuota,         // EDQUOT: an owner's quota would be exceeded
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string msg, bool retryable = false)
      : code_(code), msg_(std::move(msg)), retryable_(retryable) {}

  static Status OK() { return Status(); }
  static Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status Exists(std::string m) { return {Code::kExists, std::move(m)}; }
  static Status Invalid(std::string m) { return {Code::kInvalid, std::move(m)}; }
  static Status IO(std::string m, bool retryable = false) {
    return {Code::kIO, std::move(m), retryable};
  }
  static Status Corruption(std::string m) { return {Code::kCorruption, std::move(m)}; }
  static Status Busy(std::string m) { return {Code::kBusy, std::move(m)}; }
  // Retryable when space may be freed (a walsink server's full disk).
  static Status NoSpace(std::string m, bool retryable = false) {
    return {Code::kNoSpace, std::move(m), retryable};
  }
  static Status NotEmpty(std::string m) { return {Code::kNotEmpty, std::move(m)}; }
  static Status NotDir(std::string m) { return {Code::kNotDir, std::move(m)}; }
  static Status IsDir(std::string m) { return {Code::kIsDir, std::move(m)}; }
  static Status Permission(std::string m) { return {Code::kPermission, std::move(m)}; }
  static Status ReadOnly(std::string m) { return {Code::kReadOnly, std::move(m)}; }
  static Status TooBig(std::string m) { return {Code::kTooBig, std::move(m)}; }
  static Status NotSupported(std::string m) { return {Code::kNotSupported, std::move(m)}; }
  static Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m), true}; }
  static Status Quota(std::string m) { return {Code::kQuota, std::move(m)}; }
  // From an errno value of a failed system call; `what` names the call and object.
  static Status FromErrno(int err, const std::string& what);

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return msg_; }
  bool retryable() const { return retryable_; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsExists() const { return code_ == Code::kExists; }
  // The errno a FUSE reply should carry for this status (0 when ok).
  int ToErrno() const;
  std::string ToString() const;
  // Marks a deliberately ignored status; greppable.
  void PermitUnchecked() const {}

 private:
  Code code_ = Code::kOk;
  std::string msg_;
  bool retryable_ = false;
};

// Either a value or a non-ok Status.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status s) : status_(std::move(s)) {}    // NOLINT: implicit by design

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace strata

// Returns early from the enclosing function when `expr` is not ok.
#define STRATA_RETURN_IF_ERROR(expr) \
  do {                               \
    ::strata::Status _st = (expr);   \
    if (!_st.ok()) return _st;       \
  } while (0)

#define STRATA_CONCAT_INNER(a, b) a##b
#define STRATA_CONCAT(a, b) STRATA_CONCAT_INNER(a, b)
// ASSIGN_OR_RETURN(auto x, ResultExpr()) binds x or returns the error.
#define STRATA_ASSIGN_OR_RETURN(lhs, rexpr)                                                 \
  auto STRATA_CONCAT(_res_, __LINE__) = (rexpr);                                            \
  if (!STRATA_CONCAT(_res_, __LINE__).ok()) return STRATA_CONCAT(_res_, __LINE__).status(); \
  lhs = std::move(STRATA_CONCAT(_res_, __LINE__)).value()
