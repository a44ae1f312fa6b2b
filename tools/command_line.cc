// The daemon subcommands of the command line (command_line.h): options, checks
// CLI11 can do (exclusions, needs), and the action each one runs.
#include "tools/command_line.h"

#include <iostream>

#include "objstore/store_stack.h"
#include "tools/cli_format.h"

namespace strata::cli {

namespace {

constexpr const char* kDurationHelp = "DURATION: 90s, 15m, 2h, 7d or seconds";
constexpr const char* kHistoryHelp =
    "How far back the branch can be forked or restored (@seq:, @time:); DURATION, or 0 for "
    "none";

void AddDaemonOptions(CLI::App* cmd, DaemonArgs* args) {
  cmd->add_option("--mount", args->mount,
                  "Mount point of the daemon to talk to (default: $STRATA_MOUNT)");
  cmd->add_flag("--json", args->json, "Print the result as JSON");
}

// A subcommand taking no argument and running `fn`.
using PlainCommand = Status (*)(const DaemonArgs&, std::ostream&);
void AddPlainCommand(CLI::App* parent, const char* name, const char* help, PlainCommand fn,
                     DaemonInvocation& inv, std::function<Status()>* action) {
  CLI::App* cmd = parent->add_subcommand(name, help);
  AddDaemonOptions(cmd, &inv.daemon);
  cmd->callback([&inv, action, fn] { *action = [&inv, fn] { return fn(inv.daemon, std::cout); }; });
}

// A subcommand taking one positional argument into inv.name and running `fn`.
using NameCommand = Status (*)(const DaemonArgs&, const std::string&, std::ostream&);
void AddNameCommand(CLI::App* parent, const char* name, const char* help, const char* arg,
                    const char* arg_help, NameCommand fn, DaemonInvocation& inv,
                    std::function<Status()>* action) {
  CLI::App* cmd = parent->add_subcommand(name, help);
  cmd->add_option(arg, inv.name, arg_help)->required();
  AddDaemonOptions(cmd, &inv.daemon);
  cmd->callback(
      [&inv, action, fn] { *action = [&inv, fn] { return fn(inv.daemon, inv.name, std::cout); }; });
}

void AddBranchCreateCommand(CLI::App* branch, DaemonInvocation& inv,
                            std::function<Status()>* action) {
  CLI::App* create = branch->add_subcommand("create", "Create a branch (O(1), no data copied)");
  BranchCreateArgs& bc = inv.branch_create;
  create->add_option("NAME", bc.name, "The new branch")->required();
  CLI::Option* from = create->add_option(
      "--from", bc.from,
      "PARENT[@SNAPSHOT|@seq:N|@time:RFC3339] to fork from; without it, a new root branch");
  create->add_option("--owner", bc.owner,
                     "Owner label (tenant, agent) the branch counts against for quotas");
  CLI::Option* ttl = create->add_option(
      "--ttl", bc.ttl, std::string("Delete the branch after this long; ") + kDurationHelp);
  create->add_option("--expires-at", bc.expires_at, "Delete the branch at this RFC 3339 time")
      ->excludes(ttl);
  create->add_option("--idle-timeout", bc.idle_timeout,
                     std::string("Suspend the branch's endpoint after this long without "
                                 "clients (default: the mount's); ") +
                         kDurationHelp);
  create->add_option("--durability", bc.durability,
                     "remote, local or ephemeral: what an fsync waits for (default: remote "
                     "with a walsink server, else local)");
  CLI::Option* initdb = create->add_flag("--initdb", bc.initdb,
                                         "Run initdb: the new root branch is a PostgreSQL cluster");
  initdb->excludes(from);
  create->add_flag("--start", bc.start,
                   "Start the new database's server now, in the background, so that the "
                   "first connection does not wait for it (needs --initdb or --from)");
  create
      ->add_option("--chown", bc.chown,
                   "USER, UID, USER:GROUP or UID:GID owning a new root branch's top directory "
                   "(default: the caller's real uid and gid)")
      ->excludes(from)
      ->excludes(initdb);
  create
      ->add_option("--checkpoint", bc.checkpoint,
                   "libpq conninfo of the parent's running server: CHECKPOINT it first")
      ->needs(from);
  create->add_option("--history", bc.history,
                     std::string(kHistoryHelp) + " (default: the mount's)");
  AddDaemonOptions(create, &bc.daemon);
  create->callback(
      [&inv, action] { *action = [&inv] { return BranchCreate(inv.branch_create, std::cout); }; });
}

void AddBranchDiffCommand(CLI::App* branch, DaemonInvocation& inv,
                          std::function<Status()>* action) {
  CLI::App* diff = branch->add_subcommand(
      "diff",
      "What a branch changed since its common ancestor with another: relations, files "
      "and schema");
  BranchDiffArgs& bd = inv.branch_diff;
  diff->add_option("NAME", bd.name, "The branch")->required();
  diff->add_option("--against", bd.against, "The branch to compare with (default: the parent)");
  diff->add_flag("--no-schema", bd.no_schema, "Skip the schema diff (no pg_dump)");
  AddDaemonOptions(diff, &bd.daemon);
  diff->callback(
      [&inv, action] { *action = [&inv] { return BranchDiff(inv.branch_diff, std::cout); }; });
}

void AddBranchSetCommand(CLI::App* branch, DaemonInvocation& inv, std::function<Status()>* action) {
  CLI::App* set = branch->add_subcommand("set", "Change a branch's settings");
  BranchSetArgs& bs = inv.branch_set;
  set->add_option("NAME", bs.name, "The branch")->required();
  set->add_option("--durability", bs.durability, "remote, local or ephemeral");
  CLI::Option* sttl = set->add_option(
      "--ttl", bs.ttl, std::string("Delete the branch this long from now; ") + kDurationHelp);
  CLI::Option* sat =
      set->add_option("--expires-at", bs.expires_at, "Delete the branch at this RFC 3339 time")
          ->excludes(sttl);
  set->add_flag("--no-expiry", bs.no_expiry, "Never delete the branch on a timer")
      ->excludes(sttl)
      ->excludes(sat);
  CLI::Option* idle = set->add_option(
      "--idle-timeout", bs.idle_timeout,
      std::string("Suspend the branch's endpoint after this long without clients; ") +
          kDurationHelp);
  set->add_flag("--default-idle-timeout", bs.default_idle_timeout,
                "Use the mount's --idle-timeout again")
      ->excludes(idle);
  CLI::Option* history = set->add_option("--history", bs.history, kHistoryHelp);
  set->add_flag("--default-history", bs.default_history, "Use the mount's --history again")
      ->excludes(history);
  AddDaemonOptions(set, &bs.daemon);
  set->callback(
      [&inv, action] { *action = [&inv] { return BranchSet(inv.branch_set, std::cout); }; });
}

void AddBranchSwapCommands(CLI::App* branch, DaemonInvocation& inv,
                           std::function<Status()>* action) {
  BranchSwapArgs& bs = inv.branch_swap;
  constexpr const char* kPreserveHelp =
      "Keep the branch's state before this under a new name (default: dropped)";
  CLI::App* restore = branch->add_subcommand(
      "restore", "Rewind a branch in place; its name, credentials and connection string stay");
  restore->add_option("NAME", bs.name, "The branch")->required();
  restore->add_option("--to", bs.to, "@seq:N, @time:RFC3339 or @SNAPSHOT of the branch")
      ->required();
  restore->add_option("--preserve-as", bs.preserve_as, kPreserveHelp);
  AddDaemonOptions(restore, &bs.daemon);
  restore->callback(
      [&inv, action] { *action = [&inv] { return BranchRestore(inv.branch_swap, std::cout); }; });

  CLI::App* promote = branch->add_subcommand(
      "promote",
      "Make the parent's name name this fork (the parent must not have changed since the fork)");
  promote->add_option("CHILD", bs.name, "The fork")->required();
  promote->add_option("--preserve-as", bs.preserve_as,
                      "Keep the parent's state before this under a new name (default: dropped)");
  AddDaemonOptions(promote, &bs.daemon);
  promote->callback(
      [&inv, action] { *action = [&inv] { return BranchPromote(inv.branch_swap, std::cout); }; });
}

void AddBranchListCommand(CLI::App* branch, DaemonInvocation& inv,
                          std::function<Status()>* action) {
  CLI::App* list = branch->add_subcommand("list", "List branches");
  BranchListArgs& bl = inv.branch_list;
  list->add_option("--owner", bl.owner, "Only the branches of this owner");
  list->add_option("--limit", bl.limit, "One page of at most N branches (1-1000), by id")
      ->check(CLI::Range(1, 1000));
  list->add_option("--cursor", bl.cursor,
                   "The page after this one (the next_cursor of the page before)");
  AddDaemonOptions(list, &bl.daemon);
  list->callback(
      [&inv, action] { *action = [&inv] { return BranchList(inv.branch_list, std::cout); }; });
}

void AddBranchCommands(CLI::App& app, DaemonInvocation& inv, std::function<Status()>* action) {
  CLI::App* branch =
      app.add_subcommand("branch", "Create, list, change, delete and reset branches");
  branch->require_subcommand(1);
  AddBranchCreateCommand(branch, inv, action);
  AddBranchListCommand(branch, inv, action);
  AddNameCommand(branch, "show", "Show every field of one branch", "NAME", "The branch", BranchShow,
                 inv, action);
  AddBranchSetCommand(branch, inv, action);
  AddBranchDiffCommand(branch, inv, action);
  AddNameCommand(branch, "delete", "Delete a branch without children", "NAME", "The branch",
                 BranchDelete, inv, action);
  AddNameCommand(branch, "reset",
                 "Throw away a branch's changes: fork it again from its parent's head", "NAME",
                 "The branch", BranchReset, inv, action);
  AddNameCommand(branch, "detach",
                 "Copy what a fork reads from its parent into it: a root branch, so the "
                 "parent's history can be collected",
                 "NAME", "The branch", BranchDetach, inv, action);
  AddBranchSwapCommands(branch, inv, action);
}

void AddSnapshotCommands(CLI::App& app, DaemonInvocation& inv, std::function<Status()>* action) {
  CLI::App* snapshot = app.add_subcommand("snapshot", "Create, list and delete snapshots");
  snapshot->require_subcommand(1);

  CLI::App* create = snapshot->add_subcommand("create", "Name a branch's current state");
  create->add_option("BRANCH", inv.branch, "The branch")->required();
  create->add_option("NAME", inv.name, "The new snapshot")->required();
  AddDaemonOptions(create, &inv.daemon);
  create->callback([&inv, action] {
    *action = [&inv] { return SnapshotCreate(inv.daemon, inv.branch, inv.name, std::cout); };
  });

  AddPlainCommand(snapshot, "list", "List snapshots", SnapshotList, inv, action);

  AddNameCommand(snapshot, "delete", "Delete a snapshot", "NAME", "The snapshot", SnapshotDelete,
                 inv, action);
}

void AddEndpointCommands(CLI::App& app, DaemonInvocation& inv, std::function<Status()>* action) {
  CLI::App* endpoint = app.add_subcommand(
      "endpoint", "Start, suspend and inspect the postgres servers the daemon runs per branch");
  endpoint->require_subcommand(1);
  AddNameCommand(endpoint, "start", "Start a branch's server now (else the first client does)",
                 "BRANCH", "The branch", EndpointStart, inv, action);
  AddNameCommand(endpoint, "suspend", "Stop a branch's server cleanly and flush the branch",
                 "BRANCH", "The branch", EndpointSuspend, inv, action);
  AddNameCommand(endpoint, "status", "Show a branch's server", "BRANCH", "The branch",
                 EndpointStatus, inv, action);
  AddPlainCommand(endpoint, "list", "List the servers of all branches", EndpointList, inv, action);

  CLI::App* move = endpoint->add_subcommand(
      "move", "Hand a branch to another daemon of the store: flush, release, and the other claims");
  move->add_option("BRANCH", inv.name, "The branch")->required();
  move->add_option("--to", inv.to, "The node id of the daemon that takes it (see strata node list)")
      ->required();
  AddDaemonOptions(move, &inv.daemon);
  move->callback([&inv, action] {
    *action = [&inv] { return EndpointMove(inv.daemon, inv.name, inv.to, std::cout); };
  });
}

void AddNodeCommands(CLI::App& app, DaemonInvocation& inv, std::function<Status()>* action) {
  CLI::App* node =
      app.add_subcommand("node", "The daemons sharing the store, their load and their branches");
  node->require_subcommand(1);
  AddPlainCommand(node, "list", "List the daemons of the store", NodeList, inv, action);
}

void AddCredentialCommands(CLI::App& app, DaemonInvocation& inv, std::function<Status()>* action) {
  CLI::App* credential = app.add_subcommand(
      "credential", "Issue, list and revoke passwords for a branch's server (via the proxy)");
  credential->require_subcommand(1);

  CLI::App* issue = credential->add_subcommand(
      "issue", "Issue a user and password that open one branch; the password is shown once");
  CredentialIssueArgs& ci = inv.credential_issue;
  issue->add_option("BRANCH", ci.branch, "The branch it opens")->required();
  issue->add_option("--role", ci.role, "The role the session runs as (default: postgres)");
  CLI::Option* ttl = issue->add_option(
      "--ttl", ci.ttl,
      std::string("Valid for this long (default: the mount's --credential-ttl); ") + kDurationHelp);
  issue->add_option("--expires-at", ci.expires_at, "Valid until this RFC 3339 time")->excludes(ttl);
  AddDaemonOptions(issue, &ci.daemon);
  issue->callback([&inv, action] {
    *action = [&inv] { return CredentialIssue(inv.credential_issue, std::cout); };
  });

  AddNameCommand(credential, "list", "List a branch's credentials (never their passwords)",
                 "BRANCH", "The branch", CredentialList, inv, action);
  AddNameCommand(credential, "revoke", "Revoke a credential: it opens nothing from now on", "ID",
                 "The credential's id (its user name)", CredentialRevoke, inv, action);
}

void AddOwnerCommands(CLI::App& app, DaemonInvocation& inv, std::function<Status()>* action) {
  CLI::App* owner = app.add_subcommand("owner", "Show an owner's usage and set its quota");
  owner->require_subcommand(1);
  AddNameCommand(owner, "show", "Show an owner's branches and bytes against its quota", "OWNER",
                 "The owner label", OwnerShow, inv, action);

  CLI::App* quota = owner->add_subcommand("quota", "Set an owner's quota");
  OwnerQuotaArgs& oq = inv.owner_quota;
  quota->add_option("OWNER", oq.owner, "The owner label")->required();
  quota->add_option("--max-branches", inv.max_branches,
                    "Most branches the owner may have: N, or unlimited (-1)");
  quota->add_option("--max-bytes", inv.max_bytes,
                    "Most bytes the owner's branches may hold: SIZE (e.g. 10G), or unlimited "
                    "(-1)");
  AddDaemonOptions(quota, &oq.daemon);
  quota->callback([&inv, action] {
    *action = [&inv]() -> Status {
      OwnerQuotaArgs& q = inv.owner_quota;
      if (inv.max_branches) {
        Result<int64_t> n =
            ParseLimit(*inv.max_branches, [](const std::string& s) { return ParseCount(s); });
        if (!n.ok()) return Status::Invalid("--max-branches: " + n.status().message());
        q.max_branches = *n;
      }
      if (inv.max_bytes) {
        Result<int64_t> n = ParseLimit(*inv.max_bytes, ParseByteSize);
        if (!n.ok()) return Status::Invalid("--max-bytes: " + n.status().message());
        q.max_bytes = *n;
      }
      return OwnerQuota(q, std::cout);
    };
  });
}

void AddTokenCommands(CLI::App& app, DaemonInvocation& inv, std::function<Status()>* action) {
  CLI::App* token = app.add_subcommand(
      "token", "Issue, list and revoke API tokens that reach one owner's branches only");
  token->require_subcommand(1);

  CLI::App* issue =
      token->add_subcommand("issue", "Issue an API token of one owner; the token is shown once");
  TokenIssueArgs& ti = inv.token_issue;
  issue->add_option("OWNER", ti.owner, "The owner whose branches the token reaches")->required();
  CLI::Option* ttl = issue->add_option(
      "--ttl", ti.ttl, std::string("Valid for this long (default: 30d); ") + kDurationHelp);
  issue->add_option("--expires-at", ti.expires_at, "Valid until this RFC 3339 time")->excludes(ttl);
  AddDaemonOptions(issue, &ti.daemon);
  issue->callback(
      [&inv, action] { *action = [&inv] { return TokenIssue(inv.token_issue, std::cout); }; });

  AddPlainCommand(token, "list", "List the owner tokens (never their secrets)", TokenList, inv,
                  action);
  AddNameCommand(token, "revoke", "Revoke a token: it is refused from now on", "ID",
                 "The token's id (strata token list)", TokenRevoke, inv, action);
}

void AddMcpCommand(CLI::App& app, DaemonInvocation& inv, std::function<Status()>* action) {
  CLI::App* mcp = app.add_subcommand(
      "mcp", "Serve MCP (Model Context Protocol) on stdin/stdout for a local agent");
  McpArgs& m = inv.mcp;
  CLI::Option* mount =
      mcp->add_option("--mount", m.mount, "Mount point of the daemon (default: $STRATA_MOUNT)");
  mcp->add_option("--cache-dir", m.cache_dir, "Or the daemon's cache directory (its control.sock)")
      ->excludes(mount);
  mcp->add_option("--owner", m.owner,
                  "Act only on this owner's branches; new branches get this owner");
  mcp->callback([&inv, action] {
#ifdef STRATA_VERSION
    inv.mcp.version = STRATA_VERSION;
#endif
    *action = [&inv] { return RunMcp(inv.mcp, std::cin, std::cout); };
  });
}

}  // namespace

void AddDaemonCommands(CLI::App& app, DaemonInvocation& inv, std::function<Status()>* action) {
  AddBranchCommands(app, inv, action);
  AddSnapshotCommands(app, inv, action);
  AddEndpointCommands(app, inv, action);
  AddNodeCommands(app, inv, action);
  AddCredentialCommands(app, inv, action);
  AddOwnerCommands(app, inv, action);
  AddTokenCommands(app, inv, action);
  AddMcpCommand(app, inv, action);

  CLI::App* gc = app.add_subcommand(
      "gc", "Compact layers and collect garbage now: what no branch's history window keeps");
  gc->add_option("BRANCH", inv.name, "Only this branch (default: every branch)");
  AddDaemonOptions(gc, &inv.daemon);
  gc->callback(
      [&inv, action] { *action = [&inv] { return RunGc(inv.daemon, inv.name, std::cout); }; });

  AddPlainCommand(&app, "status", "Show the daemon, store, endpoints and branches", ShowStatus, inv,
                  action);
}

}  // namespace strata::cli
