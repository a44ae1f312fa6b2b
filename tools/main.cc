// The `strata` command line: creates stores, mounts them, and drives a running
// daemon (branches, snapshots, status) over its control socket. See docs/cli.md.
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
#include "tools/commands.h"
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
  DaemonArgs daemon;
  BranchCreateArgs branch_create;
  std::string name;
  std::string branch;
  WalsinkServeArgs walsink;
  std::string durability;
};

void AddDaemonOptions(CLI::App* cmd, DaemonArgs* args, bool with_json) {
  cmd->add_option("--mount", args->mount,
                  "Mount point of the daemon to talk to (default: $STRATA_MOUNT)");
  if (with_json) cmd->add_flag("--json", args->json, "Print the result as JSON");
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
                    "HOST:PORT of a walsink server to ship the op log to (strata walsink serve); "
                    "branches then default to durability 'remote'");
  mount->add_option("--sink-timeout", inv.mount.sink_timeout_s,
                    "Seconds a 'remote' fsync waits for the walsink server before failing "
                    "with EIO (default 60)");
  mount->callback([&inv] { inv.action = [&inv] { return Mount(inv.mount); }; });

  CLI::App* umount = app.add_subcommand("umount", "Unmount and wait for the daemon to flush");
  umount->alias("unmount");
  umount->add_option("MOUNTPOINT", inv.umount_path, "The mount point")->required();
  umount->callback([&inv] { inv.action = [&inv] { return Umount(inv.umount_path); }; });

  CLI::App* branch = app.add_subcommand("branch", "Create, list, delete and reset branches");
  branch->require_subcommand(1);

  CLI::App* bcreate = branch->add_subcommand("create", "Create a branch (O(1), no data copied)");
  BranchCreateArgs& bc = inv.branch_create;
  bcreate->add_option("NAME", bc.name, "The new branch")->required();
  CLI::Option* from = bcreate->add_option(
      "--from", bc.from,
      "PARENT[@SNAPSHOT|@seq:N|@time:RFC3339] to fork from; without it, a new root branch");
  bcreate->add_option("--owner", bc.owner,
                      "USER, UID, USER:GROUP or UID:GID owning a new root branch "
                      "(default: the caller's real uid and gid)");
  bcreate
      ->add_option("--checkpoint", bc.checkpoint,
                   "libpq conninfo of the parent's running server: CHECKPOINT it first")
      ->needs(from);
  bcreate->add_option("--durability", bc.durability,
                      "remote, local or ephemeral: what an fsync waits for (default: remote "
                      "with a walsink server, else local)");
  AddDaemonOptions(bcreate, &bc.daemon, true);
  bcreate->callback(
      [&inv] { inv.action = [&inv] { return BranchCreate(inv.branch_create, std::cout); }; });

  CLI::App* blist = branch->add_subcommand("list", "List branches");
  AddDaemonOptions(blist, &inv.daemon, true);
  blist->callback([&inv] { inv.action = [&inv] { return BranchList(inv.daemon, std::cout); }; });

  CLI::App* bset = branch->add_subcommand("set", "Change a branch's settings");
  bset->add_option("NAME", inv.name, "The branch")->required();
  bset->add_option("--durability", inv.durability, "remote, local or ephemeral")->required();
  AddDaemonOptions(bset, &inv.daemon, true);
  bset->callback([&inv] {
    inv.action = [&inv] { return BranchSet(inv.daemon, inv.name, inv.durability, std::cout); };
  });

  CLI::App* bdelete = branch->add_subcommand("delete", "Delete a branch without children");
  bdelete->add_option("NAME", inv.name, "The branch")->required();
  AddDaemonOptions(bdelete, &inv.daemon, true);
  bdelete->callback(
      [&inv] { inv.action = [&inv] { return BranchDelete(inv.daemon, inv.name, std::cout); }; });

  CLI::App* breset = branch->add_subcommand(
      "reset", "Throw away a branch's changes: fork it again from its parent's head");
  breset->add_option("NAME", inv.name, "The branch")->required();
  AddDaemonOptions(breset, &inv.daemon, true);
  breset->callback(
      [&inv] { inv.action = [&inv] { return BranchReset(inv.daemon, inv.name, std::cout); }; });

  CLI::App* snapshot = app.add_subcommand("snapshot", "Create, list and delete snapshots");
  snapshot->require_subcommand(1);

  CLI::App* screate = snapshot->add_subcommand("create", "Name a branch's current state");
  screate->add_option("BRANCH", inv.branch, "The branch")->required();
  screate->add_option("NAME", inv.name, "The new snapshot")->required();
  AddDaemonOptions(screate, &inv.daemon, true);
  screate->callback([&inv] {
    inv.action = [&inv] { return SnapshotCreate(inv.daemon, inv.branch, inv.name, std::cout); };
  });

  CLI::App* slist = snapshot->add_subcommand("list", "List snapshots");
  AddDaemonOptions(slist, &inv.daemon, true);
  slist->callback([&inv] { inv.action = [&inv] { return SnapshotList(inv.daemon, std::cout); }; });

  CLI::App* sdelete = snapshot->add_subcommand("delete", "Delete a snapshot");
  sdelete->add_option("NAME", inv.name, "The snapshot")->required();
  AddDaemonOptions(sdelete, &inv.daemon, true);
  sdelete->callback(
      [&inv] { inv.action = [&inv] { return SnapshotDelete(inv.daemon, inv.name, std::cout); }; });

  CLI::App* verify =
      app.add_subcommand("verify", "Check every object of a store against its checksums");
  verify->add_option("STORE_URL", inv.store_url, "file:///path or s3://bucket/prefix")->required();
  verify->add_flag("--json", inv.daemon.json, "Print the report as JSON");
  verify->callback([&inv] {
    inv.action = [&inv] { return Verify(inv.store_url, inv.daemon.json, std::cout); };
  });

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
  wserve->callback([&inv] { inv.action = [&inv] { return WalsinkServe(inv.walsink); }; });

  CLI::App* status = app.add_subcommand("status", "Show the daemon, store and branches");
  AddDaemonOptions(status, &inv.daemon, true);
  status->callback([&inv] { inv.action = [&inv] { return ShowStatus(inv.daemon, std::cout); }; });
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
