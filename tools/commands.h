// The commands that talk to a running daemon over its control API
// (docs/api.md, through CACHE_DIR/control.sock): branches, snapshots,
// endpoints, credentials, owners, status and GC. Each prints its result to `out`
// and returns a Status whose message is the one line the CLI prints on
// failure. The request bodies are built by pure functions (the *Body ones)
// that refuse bad flags before anything is sent.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <nlohmann/json.hpp>
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
  std::optional<std::string> from;          // PARENT[@SNAPSHOT|@seq:N|@time:RFC3339]
  std::optional<std::string> owner;         // fleet owner label quotas count against
  std::optional<std::string> ttl;           // DURATION until the branch is deleted
  std::optional<std::string> expires_at;    // RFC 3339 time the branch is deleted
  std::optional<std::string> idle_timeout;  // DURATION before its endpoint is suspended
  std::optional<std::string> durability;    // remote, local or ephemeral
  bool initdb = false;                      // make the new root branch a cluster
  bool start = false;                       // start its server now, in the background
  std::optional<std::string> chown;         // USER, UID, USER:GROUP or UID:GID of a new root branch
  std::optional<std::string> checkpoint;    // libpq conninfo of the parent's server
  std::optional<std::string> history;       // DURATION or 0: the branch's history window
};

struct BranchSetArgs {
  DaemonArgs daemon;
  std::string name;
  std::optional<std::string> durability;
  std::optional<std::string> ttl;         // from now
  std::optional<std::string> expires_at;  // RFC 3339
  bool no_expiry = false;                 // never deleted by the reaper
  std::optional<std::string> idle_timeout;
  bool default_idle_timeout = false;   // back to the mount's --idle-timeout
  std::optional<std::string> history;  // DURATION or 0
  bool default_history = false;        // back to the mount's --history
};

// branch restore and branch promote (swap_commands.cc).
struct BranchSwapArgs {
  DaemonArgs daemon;
  std::string name;         // restore: the branch; promote: the child
  std::string to;           // restore: @seq:N, @time:RFC3339 or @SNAPSHOT
  std::string preserve_as;  // the old state's new name; empty: retired
};

struct BranchListArgs {
  DaemonArgs daemon;
  std::optional<std::string> owner;   // only this owner's branches
  std::optional<int64_t> limit;       // one page of at most this many; else every branch
  std::optional<std::string> cursor;  // the page after this (a page's next_cursor)
};

struct CredentialIssueArgs {
  DaemonArgs daemon;
  std::string branch;
  std::optional<std::string> role;        // default (daemon): postgres
  std::optional<std::string> ttl;         // default (daemon): the mount's --credential-ttl
  std::optional<std::string> expires_at;  // RFC 3339
};

// token issue (token_commands.cc).
struct TokenIssueArgs {
  DaemonArgs daemon;
  std::string owner;
  std::optional<std::string> ttl;         // default (daemon): 30 days
  std::optional<std::string> expires_at;  // RFC 3339
};

struct OwnerQuotaArgs {
  DaemonArgs daemon;
  std::string owner;
  std::optional<int64_t> max_branches;  // -1: unlimited
  std::optional<int64_t> max_bytes;     // -1: unlimited
};

struct BranchDiffArgs {
  DaemonArgs daemon;
  std::string name;
  std::optional<std::string> against;  // default (daemon): the parent
  bool no_schema = false;              // skip the schema diff
};

// Request bodies; kInvalid with one sentence for bad or conflicting flags.
// BranchCreateBody resolves --chown (or the caller) to uid/gid for a new root
// branch without --initdb.
Result<nlohmann::json> BranchCreateBody(const BranchCreateArgs& args);
Result<nlohmann::json> BranchPatchBody(const BranchSetArgs& args);
Result<nlohmann::json> CredentialIssueBody(const CredentialIssueArgs& args);
Result<nlohmann::json> QuotaBody(const OwnerQuotaArgs& args);
Result<nlohmann::json> TokenIssueBody(const TokenIssueArgs& args);
// {"branch": BRANCH}, or {} for every branch when `branch` is empty.
Result<nlohmann::json> GcBody(const std::string& branch);

Status BranchCreate(const BranchCreateArgs& args, std::ostream& out);
// Every branch (fetched a page at a time), or with --limit/--cursor one page
// and, if there is more, the --cursor of the next.
Status BranchList(const BranchListArgs& args, std::ostream& out);
Status BranchShow(const DaemonArgs& args, const std::string& name, std::ostream& out);
Status BranchSet(const BranchSetArgs& args, std::ostream& out);
Status BranchDelete(const DaemonArgs& args, const std::string& name, std::ostream& out);
Status BranchReset(const DaemonArgs& args, const std::string& name, std::ostream& out);
Status BranchDetach(const DaemonArgs& args, const std::string& name, std::ostream& out);
// POST /v1/branches/NAME/restore and /promote; kInvalid before any call for
// a bad name or restore point.
Result<nlohmann::json> BranchRestoreBody(const BranchSwapArgs& args);
Result<nlohmann::json> BranchPromoteBody(const BranchSwapArgs& args);
Status BranchRestore(const BranchSwapArgs& args, std::ostream& out);
Status BranchPromote(const BranchSwapArgs& args, std::ostream& out);
// GET /v1/branches/NAME/diff with its query (diff_command.cc).
Result<std::string> BranchDiffPath(const BranchDiffArgs& args);
Status BranchDiff(const BranchDiffArgs& args, std::ostream& out);
Status SnapshotCreate(const DaemonArgs& args, const std::string& branch, const std::string& name,
                      std::ostream& out);
Status SnapshotList(const DaemonArgs& args, std::ostream& out);
Status SnapshotDelete(const DaemonArgs& args, const std::string& name, std::ostream& out);
Status EndpointStart(const DaemonArgs& args, const std::string& branch, std::ostream& out);
Status EndpointSuspend(const DaemonArgs& args, const std::string& branch, std::ostream& out);
Status EndpointStatus(const DaemonArgs& args, const std::string& branch, std::ostream& out);
Status EndpointList(const DaemonArgs& args, std::ostream& out);
// The daemons that share the mount's store (GET /v1/nodes).
// Hands BRANCH to the daemon `to` (POST /v1/branches/{name}/endpoint/move).
Status EndpointMove(const DaemonArgs& args, const std::string& branch, const std::string& to,
                    std::ostream& out);
Status NodeList(const DaemonArgs& args, std::ostream& out);
Status CredentialIssue(const CredentialIssueArgs& args, std::ostream& out);
Status CredentialList(const DaemonArgs& args, const std::string& branch, std::ostream& out);
Status CredentialRevoke(const DaemonArgs& args, const std::string& id, std::ostream& out);
Status OwnerShow(const DaemonArgs& args, const std::string& owner, std::ostream& out);
Status OwnerQuota(const OwnerQuotaArgs& args, std::ostream& out);
// Owner tokens of the API (token_commands.cc): the daemon's admin only.
Status TokenIssue(const TokenIssueArgs& args, std::ostream& out);
Status TokenList(const DaemonArgs& args, std::ostream& out);
Status TokenRevoke(const DaemonArgs& args, const std::string& id, std::ostream& out);
Status ShowStatus(const DaemonArgs& args, std::ostream& out);
// A compaction and GC pass now (gc_command.cc), of `branch` or (empty) every
// branch; while it runs, progress on stderr if stderr is a terminal.
Status RunGc(const DaemonArgs& args, const std::string& branch, std::ostream& out);

}  // namespace strata::cli
