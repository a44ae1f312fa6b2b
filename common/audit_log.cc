#include "common/audit_log.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>

namespace strata {

namespace {

Result<UniqueFd> OpenForAppend(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) return Status::FromErrno(errno, "open audit log " + path);
  return fd;
}

std::string Line(int64_t now_ns, const AuditEvent& e) {
  nlohmann::ordered_json j = {{"time", FormatRfc3339(now_ns)},
                              {"source", e.source},
                              {"peer", e.peer},
                              {"actor", e.actor},
                              {"owner", e.owner},
                              {"action", e.action},
                              {"branch", e.branch},
                              {"result", e.result}};
  if (!e.origin.empty()) j["origin"] = e.origin;
  // Invalid UTF-8 (a client's bytes) is replaced, never a reason to drop the line.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace

Result<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& path, AuditLogOptions options) {
  if (options.max_bytes == 0 || options.keep < 1) {
    return Status::Invalid("audit log: max_bytes and keep must be positive");
  }
  STRATA_ASSIGN_OR_RETURN(UniqueFd fd, OpenForAppend(path));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Status::FromErrno(errno, "stat " + path);
  return std::unique_ptr<AuditLog>(
      new AuditLog(path, options, std::move(fd), static_cast<uint64_t>(st.st_size)));
}

AuditLog::AuditLog(std::string path, AuditLogOptions options, UniqueFd fd, uint64_t size)
    : path_(std::move(path)), opts_(options), fd_(std::move(fd)), size_(size) {}

Status AuditLog::Rotate() {
  for (int i = opts_.keep; i >= 1; i--) {
    const std::string from = i == 1 ? path_ : path_ + "." + std::to_string(i - 1);
    const std::string to = path_ + "." + std::to_string(i);
    if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT) {
      return Status::FromErrno(errno, "rotate audit log " + from);
    }
  }
  STRATA_ASSIGN_OR_RETURN(fd_, OpenForAppend(path_));
  size_ = 0;
  return Status::OK();
}

void AuditLog::Record(const AuditEvent& e) {
  const std::string line = Line(opts_.clock->NowNs(), e);
  MutexLock l(&mu_);
  Status st;
  if (size_ > 0 && size_ + line.size() > opts_.max_bytes) st = Rotate();
  if (st.ok()) st = WriteAll(fd_.get(), line, path_);
  if (!st.ok()) {
    if (write_errors_++ == 0)
      spdlog::error("audit log: {} (further errors are only counted)", st.message());
    return;
  }
  size_ += line.size();
  lines_++;
}

uint64_t AuditLog::lines() const {
  MutexLock l(&mu_);
  return lines_;
}

uint64_t AuditLog::write_errors() const {
  MutexLock l(&mu_);
  return write_errors_;
}

}  // namespace strata
