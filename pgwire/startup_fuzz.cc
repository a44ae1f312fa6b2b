// Fuzz target: startup packets inside TLS, as the proxy reads them after it
// answered SSLRequest with 'S' (docs/proxy.md). Each input is written by a
// TLS client over a socket pair; the server side accepts the handshake and
// reads startup packets with pgwire::ReadStartup until one fails. Whatever
// it parses must keep its invariants (a user, unique names; a relay
// request's fields, and its encoding giving it back). Built as a
// libFuzzer fuzzer with -DSTRATA_FUZZ=ON (clang), else run over its seeds
// in tests/fuzz/startup_fuzz/ (CMake's strata_fuzz).
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "common/fd_util.h"
#include "common/tls.h"
#include "pgwire/pg_wire.h"

namespace {

using strata::TlsContext;
using strata::TlsStream;

struct Contexts {
  Contexts() {
    char tmpl[] = "/tmp/strata-startup-fuzz.XXXXXX";
    const std::string dir = mkdtemp(tmpl);
    const std::string cert = dir + "/c.crt", key = dir + "/c.key";
    const strata::Status made = strata::EnsureSelfSignedCertificate(cert, key, {"localhost"});
    auto s = TlsContext::ForServer(cert, key);
    auto c = TlsContext::ForClient(cert);
    if (!made.ok() || !s.ok() || !c.ok()) {
      std::fprintf(stderr, "startup_fuzz: no TLS contexts: %s / %s / %s\n", made.ToString().c_str(),
                   s.status().ToString().c_str(), c.status().ToString().c_str());
      abort();
    }
    server = *s;
    client = *c;
    std::filesystem::remove_all(dir);
  }
  std::shared_ptr<const TlsContext> server, client;
};

const Contexts& Tls() {
  static const Contexts* c = new Contexts;
  return *c;
}

void CheckUnique(const strata::pgwire::Params& params) {
  std::set<std::string> names;
  for (const auto& [k, v] : params) {
    if (k.empty() || !names.insert(k).second) abort();
  }
}

void Check(const strata::pgwire::Startup& s) {
  using Kind = strata::pgwire::Startup::Kind;
  if (s.kind != Kind::kStartup && s.kind != Kind::kRelay) {
    if (!s.params.empty() || !s.relay.empty()) abort();
    return;
  }
  if (s.Param("user") == nullptr || s.protocol >> 16 != 3) abort();
  CheckUnique(s.params);
  CheckUnique(s.relay);
  if (s.kind == Kind::kStartup) {
    if (!s.relay.empty()) abort();
    return;
  }
  for (const char* name : {"node", "nonce", "client"}) {
    if (s.RelayField(name) == nullptr) abort();
  }
  if (s.RelayField("node")->empty() || s.RelayField("nonce")->empty()) abort();
  // A relay request must encode back to its own bytes: the holder checks
  // the entry's proof over its re-encoding.
  const strata::Result<strata::pgwire::Startup> again = strata::pgwire::ParseStartup(
      strata::pgwire::EncodeRelayRequest(s.relay, s.params, s.protocol).substr(4));
  if (!again.ok() || again->params != s.params || again->relay != s.relay) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Contexts& tls = Tls();
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) abort();
  strata::UniqueFd server_fd(sv[0]), client_fd(sv[1]);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  const std::string input(reinterpret_cast<const char*>(data), size);
  std::thread client([&] {
    auto c = TlsStream::Connect(tls.client, client_fd.get(), "localhost", deadline);
    if (c.ok()) {
      (*c)->WriteAll(input, deadline).PermitUnchecked();
      (*c)->Shutdown();
    }
    ::shutdown(client_fd.get(), SHUT_WR);
  });
  auto s = TlsStream::Accept(tls.server, server_fd.get(), deadline);
  if (s.ok()) {
    for (;;) {
      auto startup = strata::pgwire::ReadStartup(s->get(), deadline);
      if (!startup.ok()) break;
      Check(*startup);
    }
  }
  ::shutdown(server_fd.get(), SHUT_RDWR);
  client.join();
  return 0;
}
