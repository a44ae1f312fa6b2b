// The commands that talk to a running daemon over the control socket:
// branch create/list/delete/reset, snapshot create/list/delete, status.
// Each prints its result to `out` and returns a Status whose message is the
// one line the CLI prints on failure.
#pragma once

#include <iosfwd>
#include <optional>
#include <string>

#include "common/status.h"

namespace strata::cli {

// Options every daemon command takes.
struct DaemonArgs {
  std::string mount;  // --mount; empty: $STRATA_MOUNT
  bool json = false;  // --json: print the daemon's result as JSON
};

struct BranchCreateArgs {
  DaemonArgs daemon;
  std::string name;
  std::optional<std::string> from;        // PARENT[@SNAPSHOT|@seq:N|@time:RFC3339]
  std::optional<std::string> owner;       // USER, UID, USER:GROUP or UID:GID
  std::optional<std::string> checkpoint;  // libpq conninfo of the parent's server
  std::optional<std::string> durability;  // remote, local or ephemeral
};

Status BranchCreate(const BranchCreateArgs& args, std::ostream& out);
Status BranchList(const DaemonArgs& args, std::ostream& out);
Status BranchSet(const DaemonArgs& args, const std::string& name, const std::string& durability,
                 std::ostream& out);
Status BranchDelete(const DaemonArgs& args, const std::string& name, std::ostream& out);
Status BranchReset(const DaemonArgs& args, const std::string& name, std::ostream& out);
Status SnapshotCreate(const DaemonArgs& args, const std::string& branch, const std::string& name,
                      std::ostream& out);
Status SnapshotList(const DaemonArgs& args, std::ostream& out);
Status SnapshotDelete(const DaemonArgs& args, const std::string& name, std::ostream& out);
Status ShowStatus(const DaemonArgs& args, std::ostream& out);

}  // namespace strata::cli
