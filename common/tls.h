// TLS on OpenSSL for strata's TCP servers and clients (the proxy, the
// walsink): contexts loaded from PEM files, a self-signed certificate for a
// server that was given none, and TlsStream, one TLS connection over a
// connected socket.
//
// Policy: TLS 1.2 or later, OpenSSL's default cipher suites. A client
// context verifies the server's chain and, when given a host, its name;
// a pinned client context verifies nothing, and its user compares the
// server certificate's fingerprint with the one it expects.
//
// Thread-safety: a TlsContext is immutable once made and shared by every
// connection; a TlsStream follows ByteStream's contract.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/byte_stream.h"
#include "common/status.h"

using SSL_CTX = struct ssl_ctx_st;
using SSL = struct ssl_st;

namespace strata {

class TlsContext {
 public:
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // A server's context: `cert_file` holds the certificate (and any
  // intermediates after it), `key_file` its private key, both PEM.
  // kInvalid, naming the file and OpenSSL's reason, when either cannot be
  // used or they do not match.
  static Result<std::shared_ptr<const TlsContext>> ForServer(const std::string& cert_file,
                                                             const std::string& key_file);
  // A client's context trusting the certificates in `ca_file` (PEM), or the
  // system's roots when it is empty.
  static Result<std::shared_ptr<const TlsContext>> ForClient(const std::string& ca_file);
  // A client's context that checks neither the server's chain nor its name:
  // for a caller that pins the server's certificate, comparing
  // TlsStream::PeerFingerprint with the fingerprint it expects after every
  // handshake (the proxy's relay to another daemon's proxy).
  static Result<std::shared_ptr<const TlsContext>> ForPinnedClient();

  SSL_CTX* ctx() const { return ctx_; }
  // A server context's certificate: SHA-256 of its DER as colon-separated
  // uppercase hex, as `openssl x509 -fingerprint -sha256` prints it.
  const std::string& fingerprint() const { return fingerprint_; }
  // A server context's tls-server-end-point channel binding data (RFC
  // 5929): the certificate's hash under its signature's digest, SHA-256
  // when that is MD5 or SHA-1. SCRAM-SHA-256-PLUS binds to it.
  const std::string& end_point_hash() const { return end_point_hash_; }

 private:
  explicit TlsContext(SSL_CTX* ctx) : ctx_(ctx) {}

  SSL_CTX* const ctx_;
  std::string fingerprint_, end_point_hash_;
};

// Makes a self-signed server certificate unless both files exist: an
// ECDSA P-256 key (`key_file`, mode 0600) and a certificate (`cert_file`)
// valid for ten years, its subject CN the first of `names` and every name in
// its subjectAltName (DNS names, or IP addresses where they parse as one).
// Each file is written to a temporary name and renamed, so a crash leaves
// either nothing or a whole file.
Status EnsureSelfSignedCertificate(const std::string& cert_file, const std::string& key_file,
                                   const std::vector<std::string>& names);

// The names a self-signed certificate of a server listening on `listen_host`
// holds, for clients that verify it: localhost, 127.0.0.1, ::1, this
// machine's host name, and listen_host unless it is a wildcard address.
std::vector<std::string> SelfSignedNames(const std::string& listen_host);

// One TLS connection over a connected socket it does not own. The socket is
// made non-blocking; deadlines bound every call.
class TlsStream : public ByteStream {
 public:
  ~TlsStream() override;  // frees the connection without touching the socket

  // Sends a close_notify if it can go at once; the socket must still be open.
  void Shutdown();

  // The server's side of a handshake on `fd`. kUnavailable at the deadline;
  // kInvalid with OpenSSL's reason when the client fails it (not TLS, no
  // common version, a bad certificate); a retryable kIO when the peer closed.
  static Result<std::unique_ptr<TlsStream>> Accept(std::shared_ptr<const TlsContext> ctx, int fd,
                                                   StreamDeadline deadline);
  // The client's side. With a non-empty `host`, sends it as SNI and checks
  // the server's certificate is for it (a DNS name or an IP address).
  static Result<std::unique_ptr<TlsStream>> Connect(std::shared_ptr<const TlsContext> ctx, int fd,
                                                    const std::string& host,
                                                    StreamDeadline deadline);

  int fd() const override { return fd_; }
  Result<Step> TryRead(char* buf, size_t n) override;
  Result<Step> TryWrite(std::string_view data) override;

  bool HasPending() const override;
  // The protocol and cipher agreed, e.g. "TLSv1.3 TLS_AES_256_GCM_SHA384".
  std::string Description() const;
  // The peer's certificate (a client's view of the server's), after the
  // handshake: SHA-256 of its DER in TlsContext::fingerprint()'s format;
  // empty when the peer sent none (a server's view of a client).
  std::string PeerFingerprint() const;

 private:
  TlsStream(std::shared_ptr<const TlsContext> ctx, SSL* ssl, int fd)
      : ctx_(std::move(ctx)), ssl_(ssl), fd_(fd) {}
  // Runs SSL_accept or SSL_connect to the end, waiting as OpenSSL asks.
  Status Handshake(bool server, StreamDeadline deadline);

  const std::shared_ptr<const TlsContext> ctx_;
  SSL* const ssl_;
  const int fd_;
  bool failed_ = false;  // a read or write failed: OpenSSL forbids SSL_shutdown then
};

}  // namespace strata
