// A connected byte stream with deadlines: a plain socket (PlainStream), or
// TLS over one (common/tls.h). The proxy and the walsink speak their
// protocols through it, so that encryption is a choice made once, at accept
// or connect.
//
// Contract: one thread at a time uses a stream (a TLS connection cannot read
// and write from two threads at once), except through SharedStream; the
// stream does not own its socket, which must outlive it.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "common/mutex.h"
#include "common/status.h"
#include "common/thread_annotations.h"

namespace strata {

using StreamDeadline = std::chrono::steady_clock::time_point;
inline constexpr StreamDeadline kNoStreamDeadline = StreamDeadline::max();

class ByteStream {
 public:
  virtual ~ByteStream() = default;

  virtual int fd() const = 0;

  // One non-blocking step, for loops that poll the socket themselves (the
  // proxy's relay): bytes moved, or the peer closed (reads only), or what to
  // poll the socket for before trying again. kIO on a connection error.
  struct Step {
    size_t n = 0;
    bool closed = false;
    short wait = 0;  // POLLIN or POLLOUT when nothing moved
  };
  virtual Result<Step> TryRead(char* buf, size_t n) = 0;
  virtual Result<Step> TryWrite(std::string_view data) = 0;
  // Whether the stream holds bytes already (TLS records read ahead or
  // decrypted), which poll(2) on its socket does not see: a read may give
  // data without waiting.
  virtual bool HasPending() const { return false; }

  // Up to n (> 0) bytes, waiting for the first until `deadline`. 0 when the
  // peer closed the stream; kUnavailable when the deadline passed; kIO on a
  // connection error.
  Result<size_t> ReadSome(char* buf, size_t n, StreamDeadline deadline);
  // All of `data`, or kUnavailable at the deadline, or kIO. Never SIGPIPE.
  Status WriteAll(std::string_view data, StreamDeadline deadline);
};

// Reads exactly n bytes by `deadline`: kNotFound if the peer closed before
// the first byte, kIO if it closed in the middle, otherwise as ReadSome.
// `what` names the peer in messages.
Status ReadExactly(ByteStream* s, char* buf, size_t n, StreamDeadline deadline,
                   const std::string& what);

// A plain TCP (or unix) socket.
class PlainStream : public ByteStream {
 public:
  explicit PlainStream(int fd) : fd_(fd) {}
  int fd() const override { return fd_; }
  Result<Step> TryRead(char* buf, size_t n) override;
  Result<Step> TryWrite(std::string_view data) override;

 private:
  const int fd_;
};

// A stream that one thread reads while others write (a connection's reader
// and its acknowledger): every step of the wrapped stream runs under a
// mutex, and the waits between steps (ReadSome, WriteAll) happen outside it.
// A step never blocks, so a reader waiting for data does not hold up a
// writer. Sound for TLS as long as a write never consumes incoming records,
// which holds without renegotiation (TlsStream refuses it).
class SharedStream : public ByteStream {
 public:
  explicit SharedStream(std::unique_ptr<ByteStream> inner) : inner_(std::move(inner)) {}
  int fd() const override { return inner_->fd(); }
  Result<Step> TryRead(char* buf, size_t n) override EXCLUDES(mu_);
  Result<Step> TryWrite(std::string_view data) override EXCLUDES(mu_);
  bool HasPending() const override EXCLUDES(mu_);
  // The wrapped stream, for what needs it alone (TlsStream::Shutdown once
  // no other thread uses the stream).
  ByteStream* inner() { return inner_.get(); }

 private:
  const std::unique_ptr<ByteStream> inner_;
  mutable Mutex mu_;  // held across each call into inner_; a leaf lock
};

// Waits until fd is readable (POLLIN) or writable (POLLOUT) or `deadline`
// passes (kUnavailable). A hang-up or error counts as ready: the next call on
// the socket reports it.
Status WaitFd(int fd, short events, StreamDeadline deadline);

}  // namespace strata
