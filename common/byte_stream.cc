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

Result<size_t> PlainStream::ReadSome(char* buf, size_t n, StreamDeadline deadline) {
  for (;;) {
    const ssize_t r = recv(fd_, buf, n, MSG_DONTWAIT);
    if (r >= 0) return static_cast<size_t>(r);
    if (errno == ECONNRESET) return size_t{0};
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return Status::FromErrno(errno, "recv");
    STRATA_RETURN_IF_ERROR(WaitFd(fd_, POLLIN, deadline));
  }
}

Status PlainStream::WriteAll(std::string_view data, StreamDeadline deadline) {
  while (!data.empty()) {
    const ssize_t w = send(fd_, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) {
      data.remove_prefix(static_cast<size_t>(w));
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return Status::FromErrno(errno, "send");
    STRATA_RETURN_IF_ERROR(WaitFd(fd_, POLLOUT, deadline));
  }
  return Status::OK();
}

}  // namespace strata
