// Text rendering of the daemon's JSON objects (docs/api.md) for the
// human-readable output of the command line: branches, snapshots, status.
// Missing or null fields show as "-", so an older or newer daemon never makes
// the CLI fail to print. Endpoints, credentials, owners: render_fleet.h.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace strata::cli {

// obj[key] if obj is an object holding a non-null `key`, else nullptr.
const nlohmann::json* Field(const nlohmann::json& obj, const char* key);

// "key:  value" lines, the values aligned one column past the longest key.
std::string KeyValues(const std::vector<std::pair<std::string, std::string>>& kv);

// A field as a table cell: strings on one line (OneLine), numbers in
// decimal, null or missing as "-".
std::string Cell(const nlohmann::json& obj, const char* key);

// A byte-count field as HumanSize, or "-".
std::string SizeCell(const nlohmann::json& obj, const char* key);

// A seconds field as FormatDuration ("5m"), or "-".
std::string DurationCell(const nlohmann::json& obj, const char* key);

// The "expires_at" field, or "never" when it is null or missing.
std::string ExpiryCell(const nlohmann::json& obj);

// A branch's endpoint state ("running", "suspended", ...), or "-".
std::string EndpointStateCell(const nlohmann::json& branch);

// "PARENT@seq:N" of a branch object, or "" for a root branch.
std::string ForkPoint(const nlohmann::json& branch);

// NAME PARENT FORK_SEQ SEQ DURABLE_SEQ DURABILITY CREATED STATE OWNER EXPIRES
// LOGICAL EXCLUSIVE HISTORY, from an array of branch objects (new columns go
// last: scripts cut by position).
std::string RenderBranchTable(const nlohmann::json& branches);

// Every field of one branch object, one per line (`branch show`).
std::string RenderBranchDetail(const nlohmann::json& branch);

// "branch NAME: durability TIER, expires T|never[, idle timeout D][, history
// W[ (default)]]" (`branch set`).
std::string DescribeBranchSettings(const nlohmann::json& branch);

// NAME BRANCH SEQ CREATED, from an array of snapshot objects.
std::string RenderSnapshotTable(const nlohmann::json& snapshots);

// The `status` result: a key/value block (store, proxy and API addresses,
// caches, walsink, history default, gc, ...), a blank line, then the branch
// table with per-branch tiers, memtable and layer sizes, endpoint state, owner
// and expiry.
std::string RenderStatus(const nlohmann::json& status);

// One-line confirmations of branch create, branch reset, branch detach and
// snapshot create.
std::string DescribeBranchCreated(const nlohmann::json& branch);
std::string DescribeBranchReset(const nlohmann::json& branch);
// "detached branch NAME from PARENT[ (copied SIZE)][ in X.XXX ms]".
std::string DescribeBranchDetached(const nlohmann::json& branch);
std::string DescribeSnapshotCreated(const nlohmann::json& snapshot);
// "restored branch NAME to TO (old state kept as OLD|retired)[ in X ms]" and
// "promoted CHILD into NAME (old state of NAME kept as OLD|retired)[ in X ms]".
std::string DescribeBranchRestored(const nlohmann::json& branch, const std::string& to,
                                   const std::string& preserve_as);
std::string DescribeBranchPromoted(const nlohmann::json& branch, const std::string& child,
                                   const std::string& preserve_as);

}  // namespace strata::cli
