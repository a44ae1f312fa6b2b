// The MCP tools of strata (docs/mcp.md, "Tools"): each one a JSON Schema for
// its arguments, annotations, and a handler that calls the control API
// through a Backend, so a tool and its route never disagree. A tool on an
// existing branch takes `branch`, one that makes a branch takes `name`.
//
// An owner scope (ToolOptions::owner) limits a session to the branches of
// one owner: it lists only those, acts only on those (one clear error and
// nothing changed otherwise) and gives new branches that owner. It guards
// against mistakes; the API's bearer token is the security boundary.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"
#include "mcp/backend.h"
#include "mcp/sql_runner.h"

namespace strata::mcp {

struct ToolOptions {
  Backend backend;
  SqlRunner run_sql = RunSql;  // tests give a fake
  std::string owner;           // "": every branch
  int statement_timeout_ms = kDefaultStatementTimeoutMs;
  int64_t sql_credential_ttl_s = 600;  // run_sql's credential, revoked when it is done
};

// A tool's successful answer: text for the model, and the same as JSON.
struct ToolOutput {
  std::string text;
  nlohmann::json structured;  // an object
};

class Tools {
 public:
  explicit Tools(ToolOptions opts) : opts_(std::move(opts)) {}

  // The tools/list entries: name, title, description, inputSchema, annotations.
  static const nlohmann::json& List();
  static bool Exists(const std::string& name);
  // The tool's input schema (REQUIRES: Exists(name)).
  static const nlohmann::json& Schema(const std::string& name);

  // Runs tool `name` (REQUIRES: Exists(name)) with arguments already checked
  // against its schema. A failure is the one-line message the CLI prints.
  Result<ToolOutput> Call(const std::string& name, const nlohmann::json& args);

 private:
  using Handler = Result<ToolOutput> (Tools::*)(const nlohmann::json& args);
  static Handler HandlerOf(const std::string& name);

  Result<ToolOutput> ListBranches(const nlohmann::json& args);
  Result<ToolOutput> DescribeBranch(const nlohmann::json& args);
  Result<ToolOutput> CreateBranch(const nlohmann::json& args);
  Result<ToolOutput> DeleteBranch(const nlohmann::json& args);
  Result<ToolOutput> ResetBranch(const nlohmann::json& args);
  Result<ToolOutput> RestoreBranch(const nlohmann::json& args);
  Result<ToolOutput> CreateSnapshot(const nlohmann::json& args);
  Result<ToolOutput> DeleteSnapshot(const nlohmann::json& args);
  Result<ToolOutput> GetConnectionString(const nlohmann::json& args);
  Result<ToolOutput> RunSqlTool(const nlohmann::json& args);
  Result<ToolOutput> DiffBranch(const nlohmann::json& args);
  Result<ToolOutput> PromoteBranch(const nlohmann::json& args);

  // One API call; a 4xx/5xx answer becomes its {"error"} line.
  Result<nlohmann::json> Call(BackendRequest req);
  // The branch object of `name`, refused when it is outside the owner scope.
  Result<nlohmann::json> ScopedBranch(const std::string& name);

  const ToolOptions opts_;
};

}  // namespace strata::mcp
