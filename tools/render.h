// Text rendering of the daemon's JSON objects (docs/control-protocol.md) for
// the human-readable output of the command line. Missing or null fields show
// as "-", so an older or newer daemon never makes the CLI fail to print.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace strata::cli {

// A field as a table cell: strings as they are, numbers in decimal, null or
// missing as "-".
std::string Cell(const nlohmann::json& obj, const char* key);

// A byte-count field as HumanSize, or "-".
std::string SizeCell(const nlohmann::json& obj, const char* key);

// "PARENT@seq:N" of a branch object, or "" for a root branch.
std::string ForkPoint(const nlohmann::json& branch);

// NAME PARENT FORK_SEQ SEQ DURABLE_SEQ CREATED, from an array of branch objects.
std::string RenderBranchTable(const nlohmann::json& branches);

// NAME BRANCH SEQ CREATED, from an array of snapshot objects.
std::string RenderSnapshotTable(const nlohmann::json& snapshots);

// The `status` result: a key/value block, a blank line, then the branch table
// with per-branch memtable and layer sizes.
std::string RenderStatus(const nlohmann::json& status);

// One-line confirmations of branch_create, branch_reset and snapshot_create.
std::string DescribeBranchCreated(const nlohmann::json& branch);
std::string DescribeBranchReset(const nlohmann::json& branch);
std::string DescribeSnapshotCreated(const nlohmann::json& snapshot);

}  // namespace strata::cli
