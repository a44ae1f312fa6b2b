#include "oplog/mark_file.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "common/coding.h"
#include "oplog/op_record.h"

namespace strata {

namespace {

constexpr size_t kBodyBytes = 12;  // branch u32, mark u64
constexpr size_t kCompactAbove = 1024;

void PutRecord(uint32_t branch, uint64_t mark, std::string* out) {
  const size_t at = out->size();
  PutFixed32(out, branch);
  PutFixed64(out, mark);
  PutFixed32(out, OpFrameChecksum(out->data() + at, kBodyBytes));
}

Result<std::string> ReadWhole(int fd, const std::string& path) {
  std::string data;
  char buf[64 << 10];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n == 0) return data;
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "read " + path);
    }
    data.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace

Result<std::unique_ptr<MarkFile>> MarkFile::Open(const std::string& path,
                                                 std::function<int(int fd)> fdatasync_for_test) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!fd.valid()) return Status::FromErrno(errno, "open " + path);
  STRATA_ASSIGN_OR_RETURN(const std::string data, ReadWhole(fd.get(), path));
  std::map<uint32_t, uint64_t> marks;
  const size_t whole = data.size() - data.size() % kRecordBytes;
  for (size_t off = 0; off < whole; off += kRecordBytes) {
    const char* p = data.data() + off;
    if (DecodeFixed32(p + kBodyBytes) != OpFrameChecksum(p, kBodyBytes)) {
      return Status::Corruption(path + ": record at offset " + std::to_string(off) +
                                " fails its checksum");
    }
    uint64_t& e = marks[DecodeFixed32(p)];
    e = std::max(e, DecodeFixed64(p + 4));
  }
  if (whole != data.size()) {
    // A raise that crashed mid-write was never acknowledged: cut it.
    spdlog::warn("{}: cutting a torn record of {} bytes at offset {}", path, data.size() - whole,
                 whole);
    if (::ftruncate(fd.get(), static_cast<off_t>(whole)) != 0) {
      return Status::FromErrno(errno, "ftruncate " + path);
    }
  }
  std::unique_ptr<MarkFile> f(
      new MarkFile(path, std::move(fd), std::move(marks), whole, std::move(fdatasync_for_test)));
  if (whole / kRecordBytes > 2 * f->marks_.size() + kCompactAbove) {
    STRATA_RETURN_IF_ERROR(f->Compact());
  }
  return f;
}

uint64_t MarkFile::Get(uint32_t branch) const {
  auto it = marks_.find(branch);
  return it == marks_.end() ? 0 : it->second;
}

Status MarkFile::Raise(uint32_t branch, uint64_t mark) {
  if (!failed_.ok()) return failed_;
  if (mark <= Get(branch)) return Status::OK();
  std::string rec;
  PutRecord(branch, mark, &rec);
  Status st = WriteAll(fd_.get(), rec, path_);
  if (st.ok() && (fdatasync_ ? fdatasync_(fd_.get()) : ::fdatasync(fd_.get())) != 0) {
    st = Status::FromErrno(errno, "fdatasync " + path_);
  }
  if (!st.ok()) {
    // Part of the record may be on disk, and after a failed fdatasync
    // nothing says what is: no record may follow it (Open cuts a torn
    // tail, not a torn record in the middle).
    failed_ = st;
    return st;
  }
  size_ += kRecordBytes;
  marks_[branch] = mark;
  return Status::OK();
}

Status MarkFile::Compact() {
  std::string data;
  for (const auto& [b, e] : marks_) PutRecord(b, e, &data);
  STRATA_RETURN_IF_ERROR(WriteFileAtomically(path_, data, 0600));
  UniqueFd fd(::open(path_.c_str(), O_RDWR | O_APPEND | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(errno, "open " + path_);
  spdlog::info("{}: compacted {} records to {}", path_, size_ / kRecordBytes, marks_.size());
  fd_ = std::move(fd);
  size_ = data.size();
  return Status::OK();
}

}  // namespace strata
