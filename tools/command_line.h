// The command-line grammar of the subcommands that drive a running daemon
// (branch, snapshot, endpoint, credential, owner, status; docs/cli.md). The
// parsed arguments live in a DaemonInvocation; the chosen subcommand stores
// the action to run after parsing.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <optional>
#include <string>

#include "common/status.h"
#include "tools/commands.h"
#include "tools/mcp_command.h"

namespace strata::cli {

struct DaemonInvocation {
  DaemonArgs daemon;
  BranchCreateArgs branch_create;
  BranchListArgs branch_list;
  BranchSetArgs branch_set;
  BranchSwapArgs branch_swap;  // branch restore, branch promote
  BranchDiffArgs branch_diff;
  CredentialIssueArgs credential_issue;
  OwnerQuotaArgs owner_quota;
  TokenIssueArgs token_issue;
  McpArgs mcp;
  std::optional<std::string> max_branches;  // owner quota, before parsing
  std::optional<std::string> max_bytes;
  std::string name;    // the NAME, BRANCH, ID or OWNER argument
  std::string branch;  // snapshot create's BRANCH
  std::string to;      // endpoint move's --to NODE
};

// Adds the daemon subcommands to `app`; the chosen one sets *action.
void AddDaemonCommands(CLI::App& app, DaemonInvocation& inv, std::function<Status()>* action);

}  // namespace strata::cli
