// Branch, snapshot and status commands on the control API (docs/api.md).
#include "tools/commands.h"

#include <chrono>
#include <nlohmann/json.hpp>
#include <ostream>

#include "common/names.h"
#include "tools/cli_format.h"
#include "tools/command_util.h"
#include "tools/control_client.h"
#include "tools/owner.h"
#include "tools/pg_checkpoint.h"
#include "tools/render.h"

namespace strata::cli {

namespace {

using nlohmann::json;

std::string BranchPath(const std::string& name) { return "/v1/branches/" + PathSegment(name); }

// body[field] = the seconds `parse` reads from the value of `flag`, if given.
Status AddSeconds(const char* flag, const std::optional<std::string>& text,
                  Result<int64_t> (*parse)(std::string_view), const char* field, json* body) {
  if (!text) return Status::OK();
  Result<int64_t> s = parse(*text);
  if (!s.ok()) return Status::Invalid(std::string(flag) + ": " + s.status().message());
  (*body)[field] = *s;
  return Status::OK();
}

Status AddIdleTimeout(const std::optional<std::string>& idle, json* body) {
  return AddSeconds("--idle-timeout", idle, ParseDuration, "idle_timeout_seconds", body);
}

Status AddHistory(const std::optional<std::string>& history, json* body) {
  return AddSeconds("--history", history, ParseWindow, "history_seconds", body);
}

// POST /v1/branches/NAME/ACTION; prints the branch it answers with `describe`.
Status PostBranchAction(const DaemonArgs& args, const std::string& name, const char* action,
                        std::string (*describe)(const json&), std::chrono::milliseconds timeout,
                        std::ostream& out) {
  STRATA_RETURN_IF_ERROR(ValidateName("branch", name));
  STRATA_ASSIGN_OR_RETURN(json branch,
                          CallDaemon(args, "POST", BranchPath(name) + action, nullptr, timeout));
  PrintResult(args, branch, describe(branch) + "\n", out);
  return Status::OK();
}

}  // namespace

Status AddExpiry(const std::optional<std::string>& ttl, const std::optional<std::string>& at,
                 json* body) {
  if (ttl && at) return Status::Invalid("give --ttl or --expires-at, not both");
  STRATA_RETURN_IF_ERROR(AddSeconds("--ttl", ttl, ParseDuration, "ttl_seconds", body));
  if (at) (*body)["expires_at"] = *at;  // the daemon parses RFC 3339 and refuses the past
  return Status::OK();
}

Result<json> BranchCreateBody(const BranchCreateArgs& args) {
  STRATA_RETURN_IF_ERROR(ValidateName("branch", args.name));
  json body = {{"name", args.name}};
  if (args.from) body["from"] = *args.from;
  if (args.initdb && args.from) {
    return Status::Invalid("--initdb makes a new root branch: it cannot be combined with --from");
  }
  if (args.chown && (args.from || args.initdb)) {
    return Status::Invalid(
        "--chown applies to a new root branch without --initdb (an initdb cluster belongs to "
        "the postgres user; a fork keeps its parent's owners)");
  }
  if (args.checkpoint && !args.from) return Status::Invalid("--checkpoint needs --from");
  if (args.owner) {
    STRATA_RETURN_IF_ERROR(ValidateName("owner", *args.owner));
    body["owner"] = *args.owner;
  }
  STRATA_RETURN_IF_ERROR(AddExpiry(args.ttl, args.expires_at, &body));
  STRATA_RETURN_IF_ERROR(AddIdleTimeout(args.idle_timeout, &body));
  STRATA_RETURN_IF_ERROR(AddHistory(args.history, &body));
  if (args.durability) body["durability"] = *args.durability;
  if (args.initdb) body["initdb"] = true;
  if (args.start) {
    if (!args.from && !args.initdb) return Status::Invalid("--start needs --initdb or --from");
    body["start"] = true;
  }
  if (!args.from && !args.initdb) {
    Owner owner = CallerOwner();
    if (args.chown) {
      STRATA_ASSIGN_OR_RETURN(owner, ResolveOwner(*args.chown));
    }
    body["uid"] = owner.uid;
    body["gid"] = owner.gid;
  }
  return body;
}

Result<json> BranchPatchBody(const BranchSetArgs& args) {
  STRATA_RETURN_IF_ERROR(ValidateName("branch", args.name));
  json body = json::object();
  if (args.durability) body["durability"] = *args.durability;
  if (args.no_expiry && (args.ttl || args.expires_at)) {
    return Status::Invalid("give one of --ttl, --expires-at and --no-expiry");
  }
  STRATA_RETURN_IF_ERROR(AddExpiry(args.ttl, args.expires_at, &body));
  if (args.no_expiry) body["expires_at"] = nullptr;
  if (args.default_idle_timeout && args.idle_timeout) {
    return Status::Invalid("give --idle-timeout or --default-idle-timeout, not both");
  }
  STRATA_RETURN_IF_ERROR(AddIdleTimeout(args.idle_timeout, &body));
  if (args.default_idle_timeout) body["idle_timeout_seconds"] = nullptr;
  if (args.default_history && args.history) {
    return Status::Invalid("give --history or --default-history, not both");
  }
  STRATA_RETURN_IF_ERROR(AddHistory(args.history, &body));
  if (args.default_history) body["history_seconds"] = nullptr;
  if (body.empty()) {
    return Status::Invalid(
        "nothing to change: give --durability, --ttl, --expires-at, --no-expiry, "
        "--idle-timeout, --default-idle-timeout, --history or --default-history");
  }
  return body;
}

Status BranchCreate(const BranchCreateArgs& args, std::ostream& out) {
  STRATA_ASSIGN_OR_RETURN(json body, BranchCreateBody(args));
  STRATA_ASSIGN_OR_RETURN(std::string mount, ResolveMountArg(args.daemon.mount));
  // Fail on a missing daemon before touching the parent's server.
  STRATA_RETURN_IF_ERROR(FindControlSocket(mount).status());
  if (args.checkpoint) STRATA_RETURN_IF_ERROR(CheckpointServer(*args.checkpoint));
  STRATA_ASSIGN_OR_RETURN(json branch, ControlClient(mount).Call("POST", "/v1/branches", body));
  PrintResult(args.daemon, branch, DescribeBranchCreated(branch) + "\n", out);
  return Status::OK();
}

namespace {

// GET /v1/branches with the owner filter, `limit` and the cursor.
Result<json> BranchPage(const BranchListArgs& args, int64_t limit,
                        const std::optional<std::string>& cursor) {
  std::string path = "/v1/branches?limit=" + std::to_string(limit);
  if (args.owner) path += "&owner=" + PathSegment(*args.owner);
  if (cursor) path += "&cursor=" + PathSegment(*cursor);
  STRATA_ASSIGN_OR_RETURN(json page, CallDaemon(args.daemon, "GET", path));
  if (!page.is_object() || !page.contains("branches") || !page["branches"].is_array()) {
    return Status::Corruption("the daemon's branch list is not a page: " + page.dump());
  }
  return page;
}

}  // namespace

Status BranchList(const BranchListArgs& args, std::ostream& out) {
  constexpr int64_t kPage = 1000;  // the daemon's largest
  if (args.limit || args.cursor) {
    STRATA_ASSIGN_OR_RETURN(json page, BranchPage(args, args.limit.value_or(kPage), args.cursor));
    std::string human = RenderBranchTable(page["branches"]);
    if (page["next_cursor"].is_string()) {
      human += "more: strata branch list" + (args.owner ? " --owner " + *args.owner : "") +
               " --cursor " + page["next_cursor"].get<std::string>() +
               (args.limit ? " --limit " + std::to_string(*args.limit) : "") + "\n";
    }
    PrintResult(args.daemon, page, human, out);
    return Status::OK();
  }
  json all = json::array();
  std::optional<std::string> cursor;
  for (;;) {
    STRATA_ASSIGN_OR_RETURN(json page, BranchPage(args, kPage, cursor));
    for (json& b : page["branches"]) all.push_back(std::move(b));
    if (!page["next_cursor"].is_string()) break;
    cursor = page["next_cursor"].get<std::string>();
  }
  PrintResult(args.daemon, all, RenderBranchTable(all), out);
  return Status::OK();
}

Status BranchShow(const DaemonArgs& args, const std::string& name, std::ostream& out) {
  STRATA_RETURN_IF_ERROR(ValidateName("branch", name));
  STRATA_ASSIGN_OR_RETURN(json branch, CallDaemon(args, "GET", BranchPath(name)));
  PrintResult(args, branch, RenderBranchDetail(branch), out);
  return Status::OK();
}

Status BranchSet(const BranchSetArgs& args, std::ostream& out) {
  STRATA_ASSIGN_OR_RETURN(json body, BranchPatchBody(args));
  STRATA_ASSIGN_OR_RETURN(json branch,
                          CallDaemon(args.daemon, "PATCH", BranchPath(args.name), body));
  PrintResult(args.daemon, branch, DescribeBranchSettings(branch) + "\n", out);
  return Status::OK();
}

Status BranchDelete(const DaemonArgs& args, const std::string& name, std::ostream& out) {
  STRATA_RETURN_IF_ERROR(ValidateName("branch", name));
  STRATA_ASSIGN_OR_RETURN(json result, CallDaemon(args, "DELETE", BranchPath(name)));
  PrintResult(args, result, "deleted branch " + name + "\n", out);
  return Status::OK();
}

Status BranchReset(const DaemonArgs& args, const std::string& name, std::ostream& out) {
  return PostBranchAction(args, name, "/reset", DescribeBranchReset, kDefaultControlTimeout, out);
}

Status BranchDetach(const DaemonArgs& args, const std::string& name, std::ostream& out) {
  // A detach copies what the branch reads from its ancestors: it may take long.
  return PostBranchAction(args, name, "/detach", DescribeBranchDetached, kLongControlTimeout, out);
}

Status SnapshotCreate(const DaemonArgs& args, const std::string& branch, const std::string& name,
                      std::ostream& out) {
  STRATA_RETURN_IF_ERROR(ValidateName("branch", branch));
  STRATA_RETURN_IF_ERROR(ValidateName("snapshot", name));
  STRATA_ASSIGN_OR_RETURN(
      json snap, CallDaemon(args, "POST", "/v1/snapshots", {{"branch", branch}, {"name", name}}));
  PrintResult(args, snap, DescribeSnapshotCreated(snap) + "\n", out);
  return Status::OK();
}

Status SnapshotList(const DaemonArgs& args, std::ostream& out) {
  STRATA_ASSIGN_OR_RETURN(json list, CallDaemon(args, "GET", "/v1/snapshots"));
  PrintResult(args, list, RenderSnapshotTable(list), out);
  return Status::OK();
}

Status SnapshotDelete(const DaemonArgs& args, const std::string& name, std::ostream& out) {
  STRATA_RETURN_IF_ERROR(ValidateName("snapshot", name));
  STRATA_ASSIGN_OR_RETURN(json result,
                          CallDaemon(args, "DELETE", "/v1/snapshots/" + PathSegment(name)));
  PrintResult(args, result, "deleted snapshot " + name + "\n", out);
  return Status::OK();
}

Status ShowStatus(const DaemonArgs& args, std::ostream& out) {
  STRATA_ASSIGN_OR_RETURN(json st, CallDaemon(args, "GET", "/v1/status"));
  PrintResult(args, st, RenderStatus(st), out);
  return Status::OK();
}

}  // namespace strata::cli
