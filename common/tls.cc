#include "common/tls.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <utility>

#include "common/fd_util.h"
#include "common/net.h"

namespace strata {

namespace {

constexpr long kValiditySeconds = 10L * 365 * 24 * 3600;

// OpenSSL's queued errors as one line (and the queue emptied).
std::string SslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(e);
    if (!out.empty()) out += "; ";
    out += reason ? reason : "error " + std::to_string(e);
  }
  return out.empty() ? "unknown error" : out;
}

bool IsIpAddress(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

std::string ColonHex(const unsigned char* p, unsigned n) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned i = 0; i < n; i++) {
    if (i) out += ':';
    out += kHex[p[i] >> 4];
    out += kHex[p[i] & 15];
  }
  return out;
}

// A context both sides share: TLS 1.2 or later, and a peer that drops the
// TCP connection without a close_notify reads as a close. The protocols on
// top frame their messages, so a cut is seen as a short message anyway.
SSL_CTX* NewContext(const SSL_METHOD* method) {
  SSL_CTX* c = SSL_CTX_new(method);
  if (!c) return nullptr;
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  SSL_CTX_set_options(c, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // Read whatever the socket has, not a record header then its body: one
  // read(2) per burst instead of two per record. Bytes read ahead are seen
  // by SSL_has_pending (TlsStream::Pending), not by poll(2).
  SSL_CTX_set_read_ahead(c, 1);
  return c;
}

// What `write(BIO*)` writes, as PEM text; kIO with OpenSSL's reason.
template <class Fn>
Result<std::string> Pem(Fn write) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (!bio) return Status::IO("BIO_new: " + SslErrors());
  std::string out;
  if (write(bio) == 1) {
    // Two statements: BIO_get_mem_data sets `data`, which must not be read before.
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    if (data != nullptr && n > 0) out.assign(data, static_cast<size_t>(n));
  }
  BIO_free(bio);
  if (out.empty()) return Status::IO("cannot write PEM: " + SslErrors());
  return out;
}

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};

// Adds extension `nid` with OpenSSL's config-string `value` to self-signed x.
bool AddExtension(X509* x, int nid, const std::string& value) {
  X509V3_CTX v3;
  X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value.c_str());
  if (!ext) return false;
  const bool ok = X509_add_ext(x, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

Result<std::unique_ptr<X509, X509Free>> MakeCertificate(EVP_PKEY* key,
                                                        const std::vector<std::string>& names) {
  std::unique_ptr<X509, X509Free> x(X509_new());
  if (!x) return Status::IO("X509_new: " + SslErrors());
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return Status::IO("RAND_bytes: " + SslErrors());
  serial[0] &= 0x7f;  // a positive serial number
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  const bool serial_ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x.get()));
  BN_free(bn);
  std::string san;
  for (const std::string& n : names)
    san += (san.empty() ? "" : ",") + std::string(IsIpAddress(n) ? "IP:" : "DNS:") + n;
  X509_NAME* subject = X509_get_subject_name(x.get());
  const bool ok =
      serial_ok && X509_set_version(x.get(), 2) == 1 &&
      X509_gmtime_adj(X509_getm_notBefore(x.get()), -3600) &&
      X509_gmtime_adj(X509_getm_notAfter(x.get()), kValiditySeconds) &&
      X509_set_pubkey(x.get(), key) == 1 &&
      X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(names[0].c_str()), -1, -1,
                                 0) == 1 &&
      X509_set_issuer_name(x.get(), subject) == 1 &&
      // Not a CA: whoever trusts this certificate trusts it for these names
      // only, never for one it might sign.
      AddExtension(x.get(), NID_basic_constraints, "critical,CA:FALSE") &&
      AddExtension(x.get(), NID_key_usage, "critical,digitalSignature") &&
      AddExtension(x.get(), NID_ext_key_usage, "serverAuth") &&
      AddExtension(x.get(), NID_subject_alt_name, san) && X509_sign(x.get(), key, EVP_sha256()) > 0;
  if (!ok) return Status::IO("cannot make a certificate: " + SslErrors());
  return x;
}

}  // namespace

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

Result<std::shared_ptr<const TlsContext>> TlsContext::ForServer(const std::string& cert_file,
                                                                const std::string& key_file) {
  IgnoreSigpipe();
  ERR_clear_error();
  SSL_CTX* c = NewContext(TLS_server_method());
  if (!c) return Status::IO("SSL_CTX_new: " + SslErrors());
  std::shared_ptr<TlsContext> ctx(new TlsContext(c));
  if (SSL_CTX_use_certificate_chain_file(c, cert_file.c_str()) != 1) {
    return Status::Invalid("cannot use TLS certificate " + cert_file + ": " + SslErrors());
  }
  if (SSL_CTX_use_PrivateKey_file(c, key_file.c_str(), SSL_FILETYPE_PEM) != 1 &&
      ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH) {
    return Status::Invalid("cannot use TLS key " + key_file + ": " + SslErrors());
  }
  if (SSL_CTX_check_private_key(c) != 1) {
    ERR_clear_error();
    return Status::Invalid("TLS key " + key_file + " does not match certificate " + cert_file);
  }
  X509* cert = SSL_CTX_get0_certificate(c);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  if (X509_digest(cert, EVP_sha256(), md, &len) != 1)
    return Status::IO("X509_digest: " + SslErrors());
  ctx->fingerprint_ = ColonHex(md, len);
  // RFC 5929 section 4.1, as PostgreSQL computes it: no hash for a
  // signature without one (Ed25519), and then no channel binding.
  int md_nid = NID_undef;
  if (OBJ_find_sigid_algs(X509_get_signature_nid(cert), &md_nid, nullptr) == 1) {
    const EVP_MD* type =
        md_nid == NID_md5 || md_nid == NID_sha1 ? EVP_sha256() : EVP_get_digestbynid(md_nid);
    if (type && X509_digest(cert, type, md, &len) == 1) {
      ctx->end_point_hash_.assign(reinterpret_cast<const char*>(md), len);
    }
  }
  ERR_clear_error();
  return std::shared_ptr<const TlsContext>(std::move(ctx));
}

Result<std::shared_ptr<const TlsContext>> TlsContext::ForClient(const std::string& ca_file) {
  IgnoreSigpipe();
  ERR_clear_error();
  SSL_CTX* c = NewContext(TLS_client_method());
  if (!c) return Status::IO("SSL_CTX_new: " + SslErrors());
  std::shared_ptr<TlsContext> ctx(new TlsContext(c));
  SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
  const int loaded = ca_file.empty() ? SSL_CTX_set_default_verify_paths(c)
                                     : SSL_CTX_load_verify_locations(c, ca_file.c_str(), nullptr);
  if (loaded != 1) {
    return Status::Invalid("cannot load TLS CA certificates " +
                           (ca_file.empty() ? std::string("(system)") : ca_file) + ": " +
                           SslErrors());
  }
  return std::shared_ptr<const TlsContext>(std::move(ctx));
}

Result<std::shared_ptr<const TlsContext>> TlsContext::ForPinnedClient() {
  IgnoreSigpipe();
  ERR_clear_error();
  SSL_CTX* c = NewContext(TLS_client_method());
  if (!c) return Status::IO("SSL_CTX_new: " + SslErrors());
  // No chain to verify: the caller compares the certificate's fingerprint.
  SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
  return std::shared_ptr<const TlsContext>(new TlsContext(c));
}

std::vector<std::string> SelfSignedNames(const std::string& listen_host) {
  std::vector<std::string> names = {"localhost", "127.0.0.1", "::1"};
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0 && host[0]) names.emplace_back(host);
  if (listen_host != "0.0.0.0" && listen_host != "::" && !listen_host.empty() &&
      std::find(names.begin(), names.end(), listen_host) == names.end()) {
    names.push_back(listen_host);
  }
  return names;
}

Status EnsureSelfSignedCertificate(const std::string& cert_file, const std::string& key_file,
                                   const std::vector<std::string>& names) {
  struct stat st;
  if (::stat(cert_file.c_str(), &st) == 0 && ::stat(key_file.c_str(), &st) == 0) {
    return Status::OK();
  }
  if (names.empty()) return Status::Invalid("a certificate needs at least one name");
  ERR_clear_error();
  std::unique_ptr<EVP_PKEY, PkeyFree> key(EVP_EC_gen("P-256"));
  if (!key) return Status::IO("cannot make a key: " + SslErrors());
  STRATA_ASSIGN_OR_RETURN(auto cert, MakeCertificate(key.get(), names));
  STRATA_ASSIGN_OR_RETURN(const std::string key_pem, Pem([&](BIO* b) {
                            return PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0,
                                                            nullptr, nullptr);
                          }));
  STRATA_ASSIGN_OR_RETURN(const std::string cert_pem,
                          Pem([&](BIO* b) { return PEM_write_bio_X509(b, cert.get()); }));
  STRATA_RETURN_IF_ERROR(WriteFileAtomically(key_file, key_pem, 0600));
  return WriteFileAtomically(cert_file, cert_pem, 0644);
}

// No SSL_shutdown here: by now the owner may have closed the socket, and
// its number may belong to another connection.
TlsStream::~TlsStream() { SSL_free(ssl_); }

void TlsStream::Shutdown() {
  if (failed_) return;
  ERR_clear_error();
  SSL_shutdown(ssl_);  // non-blocking socket: sent if it fits, never waited for
  ERR_clear_error();
}

Result<std::unique_ptr<TlsStream>> TlsStream::Accept(std::shared_ptr<const TlsContext> ctx, int fd,
                                                     StreamDeadline deadline) {
  SSL* ssl = SSL_new(ctx->ctx());
  if (!ssl) return Status::IO("SSL_new: " + SslErrors());
  std::unique_ptr<TlsStream> s(new TlsStream(std::move(ctx), ssl, fd));
  if (SSL_set_fd(ssl, fd) != 1) return Status::IO("SSL_set_fd: " + SslErrors());
  STRATA_RETURN_IF_ERROR(s->Handshake(true, deadline));
  return s;
}

Result<std::unique_ptr<TlsStream>> TlsStream::Connect(std::shared_ptr<const TlsContext> ctx, int fd,
                                                      const std::string& host,
                                                      StreamDeadline deadline) {
  SSL* ssl = SSL_new(ctx->ctx());
  if (!ssl) return Status::IO("SSL_new: " + SslErrors());
  std::unique_ptr<TlsStream> s(new TlsStream(std::move(ctx), ssl, fd));
  if (SSL_set_fd(ssl, fd) != 1) return Status::IO("SSL_set_fd: " + SslErrors());
  if (!host.empty()) {
    const bool ip = IsIpAddress(host);
    const bool ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) == 1
                       : SSL_set_tlsext_host_name(ssl, host.c_str()) == 1 &&
                             SSL_set1_host(ssl, host.c_str()) == 1;
    if (!ok) return Status::Invalid("cannot check a TLS certificate for \"" + host + "\"");
  }
  STRATA_RETURN_IF_ERROR(s->Handshake(false, deadline));
  return s;
}

Status TlsStream::Handshake(bool server, StreamDeadline deadline) {
  const int flags = fcntl(fd_, F_GETFL);
  if (flags < 0 || fcntl(fd_, F_SETFL, flags | O_NONBLOCK) < 0) {
    return Status::FromErrno(errno, "fcntl");
  }
  for (;;) {
    ERR_clear_error();
    errno = 0;
    const int rc = server ? SSL_accept(ssl_) : SSL_connect(ssl_);
    if (rc == 1) return Status::OK();
    const int err = SSL_get_error(ssl_, rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      const Status st = WaitFd(fd_, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
      if (st.code() == Code::kUnavailable) return Status::Unavailable("TLS handshake timed out");
      STRATA_RETURN_IF_ERROR(st);
      continue;
    }
    std::string why = SslErrors();
    const long verify = SSL_get_verify_result(ssl_);
    if (!server && verify != X509_V_OK) {
      why = "certificate verify failed: " + std::string(X509_verify_cert_error_string(verify));
    } else if (err == SSL_ERROR_SYSCALL || err == SSL_ERROR_ZERO_RETURN) {
      // A server restarting, say: worth another try, unlike a refusal.
      return Status::IO("TLS handshake failed: the peer closed the connection", true);
    }
    return Status::Invalid("TLS handshake failed: " + why);
  }
}

// What SSL_get_error says after an SSL_read or SSL_write of rc that moved
// nothing: wait for the socket, the peer closed, or a failure.
static Result<ByteStream::Step> NoProgress(SSL* ssl, int rc, const char* what) {
  const int err = SSL_get_error(ssl, rc);
  if (err == SSL_ERROR_WANT_READ) return ByteStream::Step{0, false, POLLIN};
  if (err == SSL_ERROR_WANT_WRITE) return ByteStream::Step{0, false, POLLOUT};
  if (err == SSL_ERROR_ZERO_RETURN || (err == SSL_ERROR_SYSCALL && errno == ECONNRESET)) {
    return ByteStream::Step{0, true, 0};
  }
  return Status::IO(std::string(what) + ": " + SslErrors());
}

Result<ByteStream::Step> TlsStream::TryRead(char* buf, size_t n) {
  ERR_clear_error();
  errno = 0;
  const int r = SSL_read(ssl_, buf, static_cast<int>(std::min<size_t>(n, INT_MAX)));
  if (r > 0) return Step{static_cast<size_t>(r), false, 0};
  Result<Step> step = NoProgress(ssl_, r, "TLS read");
  failed_ = failed_ || !step.ok();
  return step;
}

Result<ByteStream::Step> TlsStream::TryWrite(std::string_view data) {
  ERR_clear_error();
  errno = 0;
  const int w =
      SSL_write(ssl_, data.data(), static_cast<int>(std::min<size_t>(data.size(), INT_MAX)));
  if (w > 0) return Step{static_cast<size_t>(w), false, 0};
  Result<Step> step = NoProgress(ssl_, w, "TLS write");
  failed_ = failed_ || !step.ok();
  if (step.ok() && step->closed) return Status::IO("TLS write: the peer closed the connection");
  return step;
}

// Not SSL_pending, which counts only a decrypted record: with read-ahead,
// bytes read and not yet decrypted wait inside too.
bool TlsStream::HasPending() const { return SSL_has_pending(ssl_) == 1; }

std::string TlsStream::Description() const {
  return std::string(SSL_get_version(ssl_)) + " " + SSL_get_cipher_name(ssl_);
}

std::string TlsStream::PeerFingerprint() const {
  X509* cert = SSL_get0_peer_certificate(ssl_);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  if (cert == nullptr || X509_digest(cert, EVP_sha256(), md, &len) != 1) {
    ERR_clear_error();
    return "";
  }
  return ColonHex(md, len);
}

}  // namespace strata
