#include "common/byte_stream.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

namespace strata {

Status WaitFd(int fd, short events, StreamDeadline deadline) {
  for (;;) {
    int timeout = -1;
    if (deadline != kNoStreamDeadline) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now())
                            .count();
      if (left <= 0) return Status::Unavailable("timed out");
      timeout = static_cast<int>(std::min<int64_t>(left, 1 << 30));
    }
    pollfd p{fd, events, 0};
    const int rc = poll(&p, 1, timeout);
    if (rc > 0) return Status::OK();
    if (rc < 0 && errno != EINTR) return Status::FromErrno(errno, "poll");
  }
}

Status ReadExactly(ByteStream* s, char* buf, size_t n, StreamDeadline deadline,
                   const std::string& what) {
  size_t done = 0;
  while (done < n) {
    Result<size_t> r = s->ReadSome(buf + done, n - done, deadline);
    if (!r.ok()) {
      return Status(r.status().code(), "reading from " + what + ": " + r.status().message());
    }
    if (*r == 0) {
      if (done == 0) return Status::NotFound(what + " closed the connection");
      return Status::IO(what + " closed the connection after " + std::to_string(done) + " of " +
                        std::to_string(n) + " bytes");
    }
    done += *r;
  }
  return Status::OK();
}

Result<size_t> ByteStream::ReadSome(char* buf, size_t n, StreamDeadline deadline) {
  for (;;) {
    STRATA_ASSIGN_OR_RETURN(Step step, TryRead(buf, n));
    if (step.n > 0 || step.closed) return step.n;
    STRATA_RETURN_IF_ERROR(WaitFd(fd(), step.wait, deadline));
  }
}

Status ByteStream::WriteAll(std::string_view data, StreamDeadline deadline) {
  while (!data.empty()) {
    STRATA_ASSIGN_OR_RETURN(Step step, TryWrite(data));
    data.remove_prefix(step.n);
    if (step.n == 0) STRATA_RETURN_IF_ERROR(WaitFd(fd(), step.wait, deadline));
  }
  return Status::OK();
}

Result<ByteStream::Step> PlainStream::TryRead(char* buf, size_t n) {
  for (;;) {
    const ssize_t r = recv(fd_, buf, n, MSG_DONTWAIT);
    if (r > 0) return Step{static_cast<size_t>(r), false, 0};
    if (r == 0 || errno == ECONNRESET) return Step{0, true, 0};
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Step{0, false, POLLIN};
    if (errno != EINTR) return Status::FromErrno(errno, "recv");
  }
}

Result<ByteStream::Step> PlainStream::TryWrite(std::string_view data) {
  for (;;) {
    const ssize_t w = send(fd_, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w >= 0) return Step{static_cast<size_t>(w), false, w == 0 ? short{POLLOUT} : short{0}};
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Step{0, false, POLLOUT};
    if (errno != EINTR) return Status::FromErrno(errno, "send");
  }
}

Result<ByteStream::Step> SharedStream::TryRead(char* buf, size_t n) {
  MutexLock l(&mu_);
  return inner_->TryRead(buf, n);
}

Result<ByteStream::Step> SharedStream::TryWrite(std::string_view data) {
  MutexLock l(&mu_);
  return inner_->TryWrite(data);
}

bool SharedStream::HasPending() const {
  MutexLock l(&mu_);
  return inner_->HasPending();
}

}  // namespace strata
