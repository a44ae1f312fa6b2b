#include "tools/walsink_command.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "common/fd_util.h"
#include "common/logging.h"
#include "common/net.h"
#include "common/tls.h"
#include "common/token_file.h"
#include "walsink/sink_server.h"

namespace strata::cli {
namespace {

// Written atomically, so whoever polls for the file never reads half of it.
Status WritePortFile(const std::string& path, uint16_t port) {
  const Status st = WriteFileAtomically(path, std::to_string(port) + "\n", 0644);
  if (st.ok()) return st;
  return Status(st.code(), "write port file " + path + ": " + st.message());
}

// The access options of `args` into *opts; *what describes them for the
// "serving" line.
Status AccessOptions(const WalsinkServeArgs& args, const HostPort& listen, SinkServerOptions* opts,
                     std::string* what) {
  if (args.tls_cert.has_value() != args.tls_key.has_value()) {
    return Status::Invalid("--tls-cert and --tls-key go together");
  }
  if (args.insecure && args.tls_cert) {
    return Status::Invalid("--insecure and --tls-cert/--tls-key exclude each other");
  }
  if (!args.insecure && !args.token_file) {
    return Status::Invalid(
        "strata walsink serve needs --token-file FILE (the token clients present; made if "
        "missing), or --insecure for a plaintext walsink without one (loopback tests)");
  }
  for (const std::string& id : args.store_ids) {
    if (Status st = CheckSinkStoreId(id); !st.ok()) {
      return Status::Invalid("--store-id '" + id + "': " + st.message());
    }
  }
  opts->store_ids.insert(args.store_ids.begin(), args.store_ids.end());
  if (args.token_file) {
    STRATA_ASSIGN_OR_RETURN(opts->token,
                            LoadOrMakeTokenFile(*args.token_file, "walsink token file"));
  }
  if (args.insecure) {
    *what = opts->token.empty() ? "plaintext, no token" : "plaintext, token";
    return Status::OK();
  }
  const bool self_signed = !args.tls_cert;
  const std::string cert = self_signed ? args.dir + "/tls.crt" : *args.tls_cert;
  const std::string key = self_signed ? args.dir + "/tls.key" : *args.tls_key;
  if (self_signed) {
    std::error_code ec;
    std::filesystem::create_directories(args.dir, ec);
    if (ec) return Status::FromErrno(ec.value(), "create walsink directory " + args.dir);
    STRATA_RETURN_IF_ERROR(EnsureSelfSignedCertificate(cert, key, SelfSignedNames(listen.host)));
  }
  Result<std::shared_ptr<const TlsContext>> tls = TlsContext::ForServer(cert, key);
  if (!tls.ok()) return Status::Invalid("walsink TLS: " + tls.status().message());
  opts->tls = *tls;
  *what = std::string("TLS, ") + (self_signed ? "self-signed " : "") + "certificate " + cert +
          " (SHA-256 " + opts->tls->fingerprint() + "), token";
  return Status::OK();
}

}  // namespace

Status WalsinkServe(const WalsinkServeArgs& args) {
  // A bad address is refused before anything touches the disk.
  STRATA_ASSIGN_OR_RETURN(const HostPort hp, ParseHostPort(args.listen, true));
  STRATA_RETURN_IF_ERROR(SetupLogging("walsink", args.log_file.value_or("")));
  // Blocked before the server starts its threads, which inherit the mask, so
  // SIGINT and SIGTERM wait for the sigwait below instead of killing us.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  SinkServerOptions opts;
  opts.dir = args.dir;
  opts.listen = args.listen;
  std::string access;
  STRATA_RETURN_IF_ERROR(AccessOptions(args, hp, &opts, &access));
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<SinkServer> server, SinkServer::Start(opts));
  const std::string where = FormatHostPort({hp.host, server->port()});
  if (args.port_file) STRATA_RETURN_IF_ERROR(WritePortFile(*args.port_file, server->port()));
  if (args.log_file && *args.log_file != "-") {
    spdlog::info("walsink: pid {} serving {} on {} ({})", getpid(), args.dir, where, access);
  }
  fprintf(stderr, "strata walsink: serving %s on %s (%s)\n", args.dir.c_str(), where.c_str(),
          access.c_str());
  fflush(stderr);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("walsink: {} received, stopping", strsignal(sig));
  server->Stop();
  spdlog::info("walsink: stopped");
  return Status::OK();
}

}  // namespace strata::cli
