// The `strata` command line: creates stores, mounts them, and drives a running
// daemon (branches, snapshots, endpoints, credentials, owners, status) over
// its HTTP control API (command_line.cc). See docs/cli.md.
//
// Exit status: 0 on success, 1 on an error (one line "strata: <message>" on
// stderr), 2 on a usage error.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <functional>
#include <iostream>
#include <optional>
#include <string>

#include "common/status.h"
#include "daemon/daemon.h"
#include "tools/command_line.h"
#include "tools/mount_command.h"
#include "tools/verify_command.h"
#include "tools/walsink_command.h"

#ifndef STRATA_VERSION
#define STRATA_VERSION "0.0.0"
#endif

namespace strata::cli {
namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

// Everything parsed from the command line; the chosen subcommand's callback
// stores the action to run after parsing.
struct Invocation {
  std::function<Status()> action;
  std::string store_url;
  MountArgs mount;
  std::string umount_path;
  bool json = false;
  WalsinkServeArgs walsink;
  DaemonInvocation daemon;
};

// The proxy, API, endpoint, quota and credential options of `strata mount`.
void AddServiceOptions(CLI::App* mount, ServiceFlags& f) {
  mount->add_option("--proxy", f.proxy,
                    "HOST:PORT where clients connect to branches' servers with issued "
                    "credentials (port 0: any free), or off (default 127.0.0.1:55432)");
  mount->add_option("--proxy-tls-cert", f.proxy_tls_cert,
                    "The proxy's TLS certificate (PEM, any intermediates after it), with "
                    "--proxy-tls-key (default: a self-signed one made in CACHE_DIR)");
  mount->add_option("--proxy-tls-key", f.proxy_tls_key, "The key of --proxy-tls-cert (PEM)");
  mount->add_flag("--proxy-require-tls", f.proxy_require_tls,
                  "Refuse proxy sessions that do not start TLS (sslmode=disable, allow)");
  mount->add_option("--api", f.api,
                    "HOST:PORT of the HTTP control API on TCP, with a bearer token (port 0: any "
                    "free), or off; CACHE_DIR/control.sock always serves it "
                    "(default 127.0.0.1:55433)");
  mount->add_option("--api-token-file", f.api_token_file,
                    "The API's bearer token, made (0600) if missing (default CACHE_DIR/api-token)");
  mount->add_option("--idle-timeout", f.idle_timeout,
                    "Suspend a branch's server after this long without clients; DURATION: 90s, "
                    "15m, 2h, 7d or seconds (default 5m)");
  mount->add_option("--pg-bin", f.pg_bin,
                    "Directory of postgres and initdb (default /usr/lib/postgresql/15/bin)");
  mount->add_option("--pg-user", f.pg_user,
                    "The user the branches' servers and initdb run as (default postgres)");
  mount
      ->add_option("--pg-setting", f.pg_settings,
                   "NAME=VALUE passed to every server as -c NAME=VALUE; repeatable")
      ->allow_extra_args(false);  // one value per --pg-setting: never the positionals
  mount->add_option("--quota-branches", f.quota_branches,
                    "Default per-owner limit on branches: N, or unlimited (default)");
  mount->add_option("--quota-bytes", f.quota_bytes,
                    "Default per-owner limit on bytes: SIZE (e.g. 10G), or unlimited (default)");
  mount->add_option("--credential-ttl", f.credential_ttl,
                    "Default lifetime of an issued credential; DURATION (default 24h)");
}

// The history window, compaction and GC options of `strata mount`.
void AddHistoryOptions(CLI::App* mount, ServiceFlags& f) {
  mount->add_option("--history", f.history,
                    "Default history window: how far back a branch can be forked or restored "
                    "(@seq:, @time:); DURATION, or 0 for none (default 1h)");
  mount->add_flag("--no-gc", f.no_gc,
                  "No background compaction and garbage collection ('strata gc' still runs a "
                  "pass)");
  mount->add_option("--gc-interval", f.gc_interval,
                    "Time between background compaction and GC passes; DURATION (default 60s)");
  mount->add_option("--gc-rate", f.gc_rate,
                    "Most bytes compaction rewrites per second, e.g. 64M; at least 1M "
                    "(default 64M)");
  mount->add_option("--memtable-size", f.memtable_size,
                    "Flush a memtable to a layer once it holds this SIZE, e.g. 64M; at least 1M "
                    "(default 64M)");
}

// Membership of a store several daemons share (docs/cluster.md).
void AddClusterOptions(CLI::App* mount, ServiceFlags& f) {
  mount->add_option("--node-id", f.node_id,
                    "This daemon's id among the daemons of the store: 1-64 of a-z, 0-9 and '-' "
                    "(default: the one kept in the cache directory, made at the first mount)");
  mount->add_option("--lease-ttl", f.lease_ttl,
                    "How long the daemon's heartbeat, and so its hold on the branches it "
                    "writes, lives without renewal: after a crash other daemons wait this long "
                    "to take its branches; DURATION, 3s to 1h (default 30s)");
  mount->add_option("--advertise-host", f.advertise_host,
                    "The host name or address other daemons and clients reach this daemon's "
                    "proxy and API at (default: the --proxy/--api host, or this machine's host "
                    "name when that is a wildcard such as 0.0.0.0)");
}

void Build(CLI::App& app, Invocation& inv) {
  app.set_version_flag("--version", std::string("strata ") + STRATA_VERSION);
  app.require_subcommand(1);

  CLI::App* init = app.add_subcommand("init", "Create a new, empty store");
  init->add_option("STORE_URL", inv.store_url, "file:///path or s3://bucket/prefix")->required();
  init->callback([&inv] {
    inv.action = [&inv]() -> Status {
      STRATA_RETURN_IF_ERROR(InitStore(inv.store_url));
      printf("initialized store %s\n", inv.store_url.c_str());
      return Status::OK();
    };
  });

  CLI::App* mount = app.add_subcommand("mount", "Mount a store and serve it");
  mount->add_option("STORE_URL", inv.mount.store_url, "The store to serve")->required();
  mount->add_option("MOUNTPOINT", inv.mount.mountpoint, "An existing, empty directory")->required();
  mount->add_option("--cache-dir", inv.mount.cache_dir,
                    "Local index, op log and log (default: see docs/cli.md)");
  mount->add_flag("--foreground", inv.mount.foreground,
                  "Serve in this process until unmounted; log to stderr");
  mount->add_option("--log-file", inv.mount.log_file,
                    "Daemon log (default: CACHE_DIR/strata.log; stderr with --foreground)");
  mount->add_option("--cache-size", inv.mount.cache_size,
                    "Cap of the on-disk layer cache (L2), e.g. 512M or 8G; 0 turns it off "
                    "(default: 8G for s3:// stores, off for file://)");
  mount->add_option("--store-timeout", inv.mount.store_timeout_s,
                    "Seconds one object-store call may take, retries included (default 60)");
  mount->add_option("--inject-faults", inv.mount.inject_faults,
                    "Testing only: fail and delay object-store calls, e.g. "
                    "error_rate=0.2,latency_ms=20");
  mount->add_option("--sink", inv.mount.sink,
                    "HOST:PORT of a walsink server to ship the op log to (strata walsink serve), "
                    "or 'store' to keep it as objects in the store itself; branches then "
                    "default to durability 'remote'");
  mount->add_option("--sink-timeout", inv.mount.sink_timeout_s,
                    "Seconds a 'remote' fsync waits for the walsink server (or the store) "
                    "before failing with EIO (default 60)");
  mount->add_option("--sink-token-file", inv.mount.sink_token_file,
                    "File holding the walsink server's token (its --token-file); required "
                    "unless --sink-insecure");
  mount->add_option("--sink-ca", inv.mount.sink_ca,
                    "PEM certificates to trust for the walsink's TLS, e.g. its self-signed "
                    "DIR/tls.crt (default: the system's roots)");
  mount->add_flag("--sink-insecure", inv.mount.sink_insecure,
                  "Plaintext to the walsink (strata walsink serve --insecure), for loopback tests");
  AddServiceOptions(mount, inv.mount.service);
  AddHistoryOptions(mount, inv.mount.service);
  AddClusterOptions(mount, inv.mount.service);
  mount->callback([&inv] { inv.action = [&inv] { return Mount(inv.mount); }; });

  CLI::App* umount = app.add_subcommand("umount", "Unmount and wait for the daemon to flush");
  umount->alias("unmount");
  umount->add_option("MOUNTPOINT", inv.umount_path, "The mount point")->required();
  umount->callback([&inv] { inv.action = [&inv] { return Umount(inv.umount_path); }; });

  CLI::App* verify =
      app.add_subcommand("verify", "Check every object of a store against its checksums");
  verify->add_option("STORE_URL", inv.store_url, "file:///path or s3://bucket/prefix")->required();
  verify->add_flag("--json", inv.json, "Print the report as JSON");
  verify->callback(
      [&inv] { inv.action = [&inv] { return Verify(inv.store_url, inv.json, std::cout); }; });

  CLI::App* walsink = app.add_subcommand("walsink", "Run a walsink server (remote op-log sink)");
  walsink->require_subcommand(1);
  CLI::App* wserve = walsink->add_subcommand(
      "serve", "Keep the op logs of mounts on other machines durable; runs until SIGTERM/SIGINT");
  wserve->add_option("--dir", inv.walsink.dir, "Directory of the op logs (one per store id)")
      ->required();
  wserve->add_option("--listen", inv.walsink.listen, "HOST:PORT to listen on (port 0: any free)")
      ->required();
  wserve->add_option("--port-file", inv.walsink.port_file,
                     "Write the bound port to this file once listening");
  wserve->add_option("--log-file", inv.walsink.log_file, "Log here instead of stderr");
  wserve->add_option("--token-file", inv.walsink.token_file,
                     "The token clients must present (made, random and mode 0600, if missing); "
                     "required unless --insecure");
  wserve->add_option("--tls-cert", inv.walsink.tls_cert,
                     "PEM certificate chain for TLS (default: a self-signed DIR/tls.crt)");
  wserve->add_option("--tls-key", inv.walsink.tls_key,
                     "PEM private key of --tls-cert (default: DIR/tls.key)");
  wserve->add_option("--store-id", inv.walsink.store_ids,
                     "Serve only this store id (store.json's id); repeat for more (default: any)");
  wserve->add_flag("--insecure", inv.walsink.insecure,
                   "Plaintext, and no token unless --token-file: for loopback tests only");
  wserve->callback([&inv] { inv.action = [&inv] { return WalsinkServe(inv.walsink); }; });

  AddDaemonCommands(app, inv.daemon, &inv.action);
}

int Main(int argc, char** argv) {
  CLI::App app{"strata: a copy-on-write, branchable filesystem for PostgreSQL", "strata"};
  Invocation inv;
  Build(app, inv);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
    fprintf(stderr, "strata: %s (run 'strata --help')\n", e.what());
    return kExitUsage;
  }
  if (!inv.action) {
    fprintf(stderr, "strata: no command given (run 'strata --help')\n");
    return kExitUsage;
  }
  Status s = inv.action();
  std::cout.flush();
  if (!s.ok()) {
    fprintf(stderr, "strata: %s\n", s.message().c_str());
    return kExitError;
  }
  return 0;
}

}  // namespace
}  // namespace strata::cli

int main(int argc, char** argv) {
  try {
    return strata::cli::Main(argc, argv);
  } catch (const std::exception& e) {
    fprintf(stderr, "strata: %s\n", e.what());
  } catch (...) {
    fprintf(stderr, "strata: unexpected error\n");
  }
  return 1;
}
