#include "tools/commands.h"

#include <nlohmann/json.hpp>
#include <ostream>

#include "tools/control_client.h"
#include "tools/names.h"
#include "tools/owner.h"
#include "tools/pg_checkpoint.h"
#include "tools/render.h"

namespace strata::cli {

namespace {

using nlohmann::json;

Result<json> Call(const DaemonArgs& args, const json& request) {
  STRATA_ASSIGN_OR_RETURN(std::string mount, ResolveMountArg(args.mount));
  return ControlClient(mount).Call(request);
}

void PrintJson(std::ostream& out, const json& j) { out << j.dump(2) << "\n"; }

}  // namespace

Status BranchCreate(const BranchCreateArgs& args, std::ostream& out) {
  STRATA_RETURN_IF_ERROR(ValidateName("branch", args.name));
  Owner owner = CallerOwner();
  if (args.owner) {
    STRATA_ASSIGN_OR_RETURN(owner, ResolveOwner(*args.owner));
  }
  STRATA_ASSIGN_OR_RETURN(std::string mount, ResolveMountArg(args.daemon.mount));
  // Fail on a missing daemon before touching the parent's server.
  STRATA_RETURN_IF_ERROR(FindControlSocket(mount).status());
  if (args.checkpoint) STRATA_RETURN_IF_ERROR(CheckpointServer(*args.checkpoint));

  json req = {{"op", "branch_create"}, {"name", args.name}, {"uid", owner.uid}, {"gid", owner.gid}};
  if (args.from) req["from"] = *args.from;
  if (args.durability) req["durability"] = *args.durability;
  STRATA_ASSIGN_OR_RETURN(json branch, ControlClient(mount).Call(req));
  if (args.daemon.json) {
    PrintJson(out, branch);
  } else {
    out << DescribeBranchCreated(branch) << "\n";
  }
  return Status::OK();
}

Status BranchList(const DaemonArgs& args, std::ostream& out) {
  STRATA_ASSIGN_OR_RETURN(json list, Call(args, {{"op", "branch_list"}}));
  if (args.json) {
    PrintJson(out, list);
  } else {
    out << RenderBranchTable(list);
  }
  return Status::OK();
}

Status BranchSet(const DaemonArgs& args, const std::string& name, const std::string& durability,
                 std::ostream& out) {
  STRATA_RETURN_IF_ERROR(ValidateName("branch", name));
  STRATA_ASSIGN_OR_RETURN(
      json branch, Call(args, {{"op", "branch_set"}, {"name", name}, {"durability", durability}}));
  if (args.json) {
    PrintJson(out, branch);
  } else {
    out << "branch " << name << ": durability " << Cell(branch, "durability") << "\n";
  }
  return Status::OK();
}

Status BranchDelete(const DaemonArgs& args, const std::string& name, std::ostream& out) {
  STRATA_RETURN_IF_ERROR(ValidateName("branch", name));
  STRATA_ASSIGN_OR_RETURN(json result, Call(args, {{"op", "branch_delete"}, {"name", name}}));
  if (args.json) {
    PrintJson(out, result);
  } else {
    out << "deleted branch " << name << "\n";
  }
  return Status::OK();
}

Status BranchReset(const DaemonArgs& args, const std::string& name, std::ostream& out) {
  STRATA_RETURN_IF_ERROR(ValidateName("branch", name));
  STRATA_ASSIGN_OR_RETURN(json branch, Call(args, {{"op", "branch_reset"}, {"name", name}}));
  if (args.json) {
    PrintJson(out, branch);
  } else {
    out << DescribeBranchReset(branch) << "\n";
  }
  return Status::OK();
}

Status SnapshotCreate(const DaemonArgs& args, const std::string& branch, const std::string& name,
                      std::ostream& out) {
  STRATA_RETURN_IF_ERROR(ValidateName("branch", branch));
  STRATA_RETURN_IF_ERROR(ValidateName("snapshot", name));
  STRATA_ASSIGN_OR_RETURN(
      json snap, Call(args, {{"op", "snapshot_create"}, {"branch", branch}, {"name", name}}));
  if (args.json) {
    PrintJson(out, snap);
  } else {
    out << DescribeSnapshotCreated(snap) << "\n";
  }
  return Status::OK();
}

Status SnapshotList(const DaemonArgs& args, std::ostream& out) {
  STRATA_ASSIGN_OR_RETURN(json list, Call(args, {{"op", "snapshot_list"}}));
  if (args.json) {
    PrintJson(out, list);
  } else {
    out << RenderSnapshotTable(list);
  }
  return Status::OK();
}

Status SnapshotDelete(const DaemonArgs& args, const std::string& name, std::ostream& out) {
  STRATA_RETURN_IF_ERROR(ValidateName("snapshot", name));
  STRATA_ASSIGN_OR_RETURN(json result, Call(args, {{"op", "snapshot_delete"}, {"name", name}}));
  if (args.json) {
    PrintJson(out, result);
  } else {
    out << "deleted snapshot " << name << "\n";
  }
  return Status::OK();
}

Status ShowStatus(const DaemonArgs& args, std::ostream& out) {
  STRATA_ASSIGN_OR_RETURN(json st, Call(args, {{"op", "status"}}));
  if (args.json) {
    PrintJson(out, st);
  } else {
    out << RenderStatus(st);
  }
  return Status::OK();
}

}  // namespace strata::cli
