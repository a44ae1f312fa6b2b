#include "mcp/tools.h"

#include <map>

namespace strata::mcp {

namespace {

using json = nlohmann::json;

json Str(const char* description) {
  return {{"type", "string"}, {"minLength", 1}, {"description", description}};
}

json Annotations(bool read_only, bool destructive, bool idempotent) {
  return {{"readOnlyHint", read_only},
          {"destructiveHint", destructive},
          {"idempotentHint", idempotent},
          {"openWorldHint", false}};
}

json Schema(json properties, std::vector<std::string> required) {
  return {{"type", "object"},
          {"properties", std::move(properties)},
          {"required", std::move(required)},
          {"additionalProperties", false}};
}

const char* const kBranchArg = "The branch (its name)";

json ToolEntry(const char* name, const char* title, const char* description, json schema,
               json annotations) {
  annotations["title"] = title;
  return {{"name", name},
          {"title", title},
          {"description", description},
          {"inputSchema", std::move(schema)},
          {"annotations", std::move(annotations)}};
}

// The tools that make, change and remove branches and snapshots.
void AddBranchTools(json* tools) {
  tools->push_back(ToolEntry("list_branches", "List branches",
                             "Lists the branches (databases) this session may use, with their "
                             "parent, fork point, owner, size and endpoint state.",
                             Schema(json::object(), {}), Annotations(true, false, true)));
  tools->push_back(ToolEntry("describe_branch", "Describe a branch",
                             "Every field of one branch: parent, fork point, seq, owner, expiry, "
                             "history window, size and its PostgreSQL server's state.",
                             Schema({{"branch", Str(kBranchArg)}}, {"branch"}),
                             Annotations(true, false, true)));
  tools->push_back(ToolEntry(
      "create_branch", "Create a branch or a new database",
      "Creates a branch: with initdb true, a new empty PostgreSQL database; with from, a "
      "copy-on-write fork of that branch (at its head, or at a snapshot, seq:N or "
      "time:RFC3339), made in constant time whatever the size.",
      Schema({{"name", Str("The new branch's name: 1-63 letters, digits, '-' or '_'")},
              {"from", Str("The branch to fork")},
              {"at", Str("Where in from's history: a snapshot name, seq:N or time:RFC3339 "
                         "(default: its head)")},
              {"ttl_seconds",
               {{"type", "integer"},
                {"minimum", 1},
                {"maximum", 316224000},
                {"description", "Delete the branch after this many seconds"}}},
              {"owner", Str("Owner label quotas count against (default: the session's owner)")},
              {"initdb",
               {{"type", "boolean"},
                {"description", "Make a new, empty PostgreSQL database (no from)"}}},
              {"start",
               {{"type", "boolean"},
                {"description",
                 "Start the branch's server now, in the background, so that the first "
                 "run_sql does not wait for it (default: true with initdb or from)"}}}},
             {"name"}),
      Annotations(false, false, false)));
  tools->push_back(ToolEntry("delete_branch", "Delete a branch",
                             "Deletes a branch without children, its server and its credentials.",
                             Schema({{"branch", Str(kBranchArg)}}, {"branch"}),
                             Annotations(false, true, true)));
  tools->push_back(ToolEntry("reset_branch", "Reset a branch to its parent",
                             "Throws away a fork's changes: forks it again from its parent's "
                             "head, under the same name.",
                             Schema({{"branch", Str(kBranchArg)}}, {"branch"}),
                             Annotations(false, true, false)));
  tools->push_back(ToolEntry(
      "restore_branch", "Restore a branch to an earlier point",
      "Rewinds a branch in place to a snapshot, seq:N or time:RFC3339 inside its history "
      "window; the name, credentials and connection string stay. preserve_as keeps the state "
      "before the restore as a new branch.",
      Schema({{"branch", Str(kBranchArg)},
              {"to", Str("A snapshot name, seq:N or time:RFC3339")},
              {"preserve_as", Str("Keep the state before the restore under this new name")}},
             {"branch", "to"}),
      Annotations(false, true, false)));
  tools->push_back(
      ToolEntry("create_snapshot", "Create a snapshot",
                "Names a branch's current state, so it can be forked or restored "
                "later.",
                Schema({{"branch", Str(kBranchArg)}, {"name", Str("The new snapshot's name")}},
                       {"branch", "name"}),
                Annotations(false, false, false)));
}

// The tools on snapshots, connections, SQL, diffs and promotion.
void AddDataTools(json* tools) {
  tools->push_back(ToolEntry("delete_snapshot", "Delete a snapshot",
                             "Deletes a snapshot (a branch with snapshots cannot be deleted).",
                             Schema({{"snapshot", Str("The snapshot's name")}}, {"snapshot"}),
                             Annotations(false, true, true)));
  tools->push_back(ToolEntry(
      "get_connection_string", "Get a connection string",
      "Issues a credential for one branch and returns its postgresql:// URI through the "
      "daemon's proxy, for psql or any driver. It expires after ttl_seconds (default: the "
      "mount's --credential-ttl).",
      Schema({{"branch", Str(kBranchArg)},
              {"ttl_seconds",
               {{"type", "integer"},
                {"minimum", 1},
                {"maximum", 316224000},
                {"description", "Lifetime of the credential in seconds"}}},
              {"role", Str("The PostgreSQL role the session runs as (default: postgres)")}},
             {"branch"}),
      Annotations(false, false, false)));
  tools->push_back(ToolEntry(
      "run_sql", "Run one SQL statement",
      "Runs one SQL statement on a branch through the proxy and returns its rows (at most "
      "max_rows, and 256 KiB of values; a note says when the result was cut). Read-only "
      "unless read_only is false; a 30 s statement timeout.",
      Schema({{"branch", Str(kBranchArg)},
              {"sql", Str("One SQL statement")},
              {"read_only",
               {{"type", "boolean"},
                {"description",
                 "Run in a read-only transaction, rolled back "
                 "(default true); false runs and commits a write"}}},
              {"max_rows",
               {{"type", "integer"},
                {"minimum", 1},
                {"maximum", kMaxMaxRows},
                {"description", "Most rows returned (default 100)"}}}},
             {"branch", "sql"}),
      Annotations(false, true, false)));
  tools->push_back(ToolEntry(
      "diff_branch", "Diff a branch",
      "What changed on a branch since its common ancestor with another branch (default its "
      "parent): the relations with pages and bytes changed, and a unified diff of the two "
      "schemas.",
      Schema({{"branch", Str(kBranchArg)},
              {"against", Str("The branch to compare with (default: the parent)")},
              {"schema",
               {{"type", "boolean"}, {"description", "Include the schema diff (default true)"}}}},
             {"branch"}),
      Annotations(true, false, true)));
  tools->push_back(ToolEntry(
      "promote_branch", "Promote a fork into its parent",
      "Fast-forward merge: the parent's name then points at this fork's state, when the "
      "parent has not changed since the fork point (else refused, naming the relations that "
      "diverged). The parent's credentials keep working; preserve_as keeps its old state.",
      Schema({{"branch", Str("The fork (child) to promote")},
              {"preserve_as", Str("Keep the parent's old state under this new name")}},
             {"branch"}),
      Annotations(false, true, false)));
}

json BuildList() {
  json tools = json::array();
  AddBranchTools(&tools);
  AddDataTools(&tools);
  return tools;
}

const json& Entry(const std::string& name) {
  static const std::map<std::string, json> by_name = [] {
    std::map<std::string, json> m;
    for (const json& t : Tools::List()) m[t["name"].get<std::string>()] = t;
    return m;
  }();
  return by_name.at(name);
}

// "@x" and "x" both become "@x".
std::string At(const std::string& spec) { return spec.rfind('@', 0) == 0 ? spec : "@" + spec; }

std::string Arg(const json& args, const char* name) { return args.value(name, std::string()); }

ToolOutput Output(const std::string& summary, json structured) {
  return {summary + "\n" + structured.dump(2), std::move(structured)};
}

}  // namespace

const json& Tools::List() {
  static const json list = BuildList();
  return list;
}

bool Tools::Exists(const std::string& name) { return HandlerOf(name) != nullptr; }

const json& Tools::Schema(const std::string& name) { return Entry(name)["inputSchema"]; }

Tools::Handler Tools::HandlerOf(const std::string& name) {
  static const std::map<std::string, Handler> handlers = {
      {"list_branches", &Tools::ListBranches},
      {"describe_branch", &Tools::DescribeBranch},
      {"create_branch", &Tools::CreateBranch},
      {"delete_branch", &Tools::DeleteBranch},
      {"reset_branch", &Tools::ResetBranch},
      {"restore_branch", &Tools::RestoreBranch},
      {"create_snapshot", &Tools::CreateSnapshot},
      {"delete_snapshot", &Tools::DeleteSnapshot},
      {"get_connection_string", &Tools::GetConnectionString},
      {"run_sql", &Tools::RunSqlTool},
      {"diff_branch", &Tools::DiffBranch},
      {"promote_branch", &Tools::PromoteBranch},
  };
  auto it = handlers.find(name);
  return it == handlers.end() ? nullptr : it->second;
}

Result<ToolOutput> Tools::Call(const std::string& name, const json& args) {
  return (this->*HandlerOf(name))(args.is_null() ? json::object() : args);
}

Result<json> Tools::Call(BackendRequest req) {
  const BackendReply r = opts_.backend(req);
  if (r.status < 400) return r.body;
  if (r.body.is_object() && r.body.contains("error") && r.body["error"].is_string()) {
    return Status::Invalid(r.body["error"].get<std::string>());
  }
  return Status::IO("the daemon answered HTTP " + std::to_string(r.status) + " to " + req.method +
                    " " + req.PathString());
}

Result<json> Tools::ScopedBranch(const std::string& name) {
  STRATA_ASSIGN_OR_RETURN(json b, Call({"GET", {"v1", "branches", name}, {}, nullptr}));
  if (opts_.owner.empty()) return b;
  const json& owner = b["owner"];
  if (owner.is_string() && owner.get<std::string>() == opts_.owner) return b;
  return Status::Permission("branch '" + name + "' is not a branch of owner '" + opts_.owner +
                            "': this session acts on that owner's branches only");
}

Result<ToolOutput> Tools::ListBranches(const json&) {
  STRATA_ASSIGN_OR_RETURN(const json all, Call({"GET", {"v1", "branches"}, {}, nullptr}));
  json mine = json::array();
  for (const json& b : all) {
    if (opts_.owner.empty() || b.value("owner", json()) == json(opts_.owner)) mine.push_back(b);
  }
  const std::string summary = std::to_string(mine.size()) + " branches";
  return Output(summary, {{"branches", std::move(mine)}});
}

Result<ToolOutput> Tools::DescribeBranch(const json& args) {
  STRATA_ASSIGN_OR_RETURN(json b, ScopedBranch(Arg(args, "branch")));
  return Output("branch " + Arg(args, "branch"), std::move(b));
}

Result<ToolOutput> Tools::CreateBranch(const json& args) {
  json body = {{"name", Arg(args, "name")}};
  if (args.contains("at") && !args.contains("from")) {
    return Status::Invalid("'at' needs 'from': the branch whose history it points into");
  }
  if (args.contains("from")) {
    STRATA_RETURN_IF_ERROR(ScopedBranch(Arg(args, "from")).status());
    body["from"] = Arg(args, "from") + (args.contains("at") ? At(Arg(args, "at")) : "");
  }
  if (!opts_.owner.empty() && args.contains("owner") && Arg(args, "owner") != opts_.owner) {
    return Status::Permission("this session creates branches of owner '" + opts_.owner +
                              "' only, not '" + Arg(args, "owner") + "'");
  }
  const std::string owner = opts_.owner.empty() ? Arg(args, "owner") : opts_.owner;
  if (!owner.empty()) body["owner"] = owner;
  if (args.contains("ttl_seconds")) body["ttl_seconds"] = args["ttl_seconds"];
  if (args.contains("initdb")) body["initdb"] = args["initdb"];
  // An agent queries what it makes: a database's server starts right away.
  const bool database = args.contains("from") || args.value("initdb", false);
  if (args.value("start", database)) body["start"] = true;
  STRATA_ASSIGN_OR_RETURN(json b, Call({"POST", {"v1", "branches"}, {}, body}));
  return Output("created branch " + Arg(args, "name"), std::move(b));
}

Result<ToolOutput> Tools::DeleteBranch(const json& args) {
  const std::string name = Arg(args, "branch");
  STRATA_RETURN_IF_ERROR(ScopedBranch(name).status());
  STRATA_RETURN_IF_ERROR(Call({"DELETE", {"v1", "branches", name}, {}, nullptr}).status());
  return Output("deleted branch " + name, {{"deleted", name}});
}

Result<ToolOutput> Tools::ResetBranch(const json& args) {
  const std::string name = Arg(args, "branch");
  STRATA_RETURN_IF_ERROR(ScopedBranch(name).status());
  STRATA_ASSIGN_OR_RETURN(json b, Call({"POST", {"v1", "branches", name, "reset"}, {}, nullptr}));
  return Output("reset branch " + name + " to its parent's head", std::move(b));
}

Result<ToolOutput> Tools::RestoreBranch(const json& args) {
  const std::string name = Arg(args, "branch");
  STRATA_RETURN_IF_ERROR(ScopedBranch(name).status());
  json body = {{"to", At(Arg(args, "to"))}};
  if (args.contains("preserve_as")) body["preserve_as"] = Arg(args, "preserve_as");
  STRATA_ASSIGN_OR_RETURN(json b, Call({"POST", {"v1", "branches", name, "restore"}, {}, body}));
  return Output("restored branch " + name + " to " + At(Arg(args, "to")), std::move(b));
}

Result<ToolOutput> Tools::CreateSnapshot(const json& args) {
  const std::string branch = Arg(args, "branch");
  STRATA_RETURN_IF_ERROR(ScopedBranch(branch).status());
  STRATA_ASSIGN_OR_RETURN(
      json s,
      Call({"POST", {"v1", "snapshots"}, {}, {{"branch", branch}, {"name", Arg(args, "name")}}}));
  return Output("created snapshot " + Arg(args, "name") + " of branch " + branch, std::move(s));
}

Result<ToolOutput> Tools::DeleteSnapshot(const json& args) {
  const std::string name = Arg(args, "snapshot");
  STRATA_ASSIGN_OR_RETURN(const json all, Call({"GET", {"v1", "snapshots"}, {}, nullptr}));
  for (const json& s : all) {
    if (s.value("name", "") != name) continue;
    // A snapshot of a deleted branch has no branch: outside every owner's scope.
    const std::string branch = s["branch"].is_string() ? s["branch"].get<std::string>() : "";
    if (!opts_.owner.empty() && branch.empty()) {
      return Status::Permission("snapshot '" + name + "' belongs to no branch of owner '" +
                                opts_.owner + "'");
    }
    if (!branch.empty()) STRATA_RETURN_IF_ERROR(ScopedBranch(branch).status());
  }
  STRATA_RETURN_IF_ERROR(Call({"DELETE", {"v1", "snapshots", name}, {}, nullptr}).status());
  return Output("deleted snapshot " + name, {{"deleted", name}});
}

Result<ToolOutput> Tools::GetConnectionString(const json& args) {
  const std::string branch = Arg(args, "branch");
  STRATA_RETURN_IF_ERROR(ScopedBranch(branch).status());
  json body = json::object();
  if (args.contains("ttl_seconds")) body["ttl_seconds"] = args["ttl_seconds"];
  if (args.contains("role")) body["role"] = Arg(args, "role");
  STRATA_ASSIGN_OR_RETURN(json c,
                          Call({"POST", {"v1", "branches", branch, "credentials"}, {}, body}));
  if (!c.contains("uri")) {
    (void)Call({"DELETE", {"v1", "credentials", c.value("id", "")}, {}, nullptr});
    return Status::Unavailable(
        "the daemon runs no PostgreSQL proxy (mounted with --proxy off): there is no "
        "connection string to give");
  }
  json out = {{"uri", c["uri"]},
              {"user", c["user"]},
              {"branch", branch},
              {"role", c["role"]},
              {"expires_at", c["expires_at"]}};
  return {{c["uri"].get<std::string>() + "\n(expires " + c["expires_at"].dump() + ")", out}};
}

Result<ToolOutput> Tools::RunSqlTool(const json& args) {
  const std::string branch = Arg(args, "branch");
  STRATA_RETURN_IF_ERROR(ScopedBranch(branch).status());
  STRATA_ASSIGN_OR_RETURN(json c, Call({"POST",
                                        {"v1", "branches", branch, "credentials"},
                                        {},
                                        {{"ttl_seconds", opts_.sql_credential_ttl_s}}}));
  const std::string id = c.value("id", "");
  SqlRequest req;
  req.sql = Arg(args, "sql");
  req.read_only = args.value("read_only", true);
  req.max_rows = args.value("max_rows", kDefaultMaxRows);
  req.statement_timeout_ms = opts_.statement_timeout_ms;
  Result<SqlResult> r = Status::Unavailable(
      "the daemon runs no PostgreSQL proxy (mounted with --proxy off): run_sql needs one");
  if (c.contains("uri")) {
    req.conninfo = c["uri"].get<std::string>();
    r = opts_.run_sql(req);
  }
  // Revoked at once; its TTL bounds it if this fails.
  (void)Call({"DELETE", {"v1", "credentials", id}, {}, nullptr});
  if (!r.ok()) return r.status();
  json j = r->ToJson();
  j["branch"] = branch;
  j["read_only"] = req.read_only;
  return {{r->ToText(), std::move(j)}};
}

Result<ToolOutput> Tools::DiffBranch(const json& args) {
  const std::string branch = Arg(args, "branch");
  STRATA_RETURN_IF_ERROR(ScopedBranch(branch).status());
  std::map<std::string, std::string> query;
  if (args.contains("against")) {
    STRATA_RETURN_IF_ERROR(ScopedBranch(Arg(args, "against")).status());
    query["against"] = Arg(args, "against");
  }
  query["schema"] = args.value("schema", true) ? "true" : "false";
  STRATA_ASSIGN_OR_RETURN(json d,
                          Call({"GET", {"v1", "branches", branch, "diff"}, query, nullptr}));
  std::string text = "diff of branch " + branch;
  if (d.contains("relations"))
    text += ": " + std::to_string(d["relations"].size()) + " relations changed";
  return Output(text, std::move(d));
}

Result<ToolOutput> Tools::PromoteBranch(const json& args) {
  const std::string branch = Arg(args, "branch");
  STRATA_ASSIGN_OR_RETURN(const json child, ScopedBranch(branch));
  if (child["parent"].is_string()) {
    STRATA_RETURN_IF_ERROR(ScopedBranch(child["parent"].get<std::string>()).status());
  }
  json body = json::object();
  if (args.contains("preserve_as")) body["preserve_as"] = Arg(args, "preserve_as");
  STRATA_ASSIGN_OR_RETURN(json b, Call({"POST", {"v1", "branches", branch, "promote"}, {}, body}));
  return Output("promoted branch " + branch + " into its parent", std::move(b));
}

std::string BackendRequest::PathString() const {
  std::string out;
  for (const std::string& s : path) out += "/" + s;
  return out;
}

}  // namespace strata::mcp
