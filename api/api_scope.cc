#include "api/api_scope.h"

#include "catalog/fork_spec.h"

namespace strata {

namespace {

using json = nlohmann::json;

bool Owns(const Caller& c, const BranchInfo* b) { return b && b->owner == c.owner; }

// The same kNotFound the routes answer for a name that names nothing.
Status CheckBranch(const CatalogData& cat, const Caller& c, const std::string& name) {
  if (Owns(c, cat.FindBranch(name))) return Status::OK();
  return Status::NotFound("no branch named '" + name + "'");
}

// A snapshot of a retired branch belongs to the retired branch's owner.
Status CheckSnapshot(const CatalogData& cat, const Caller& c, const std::string& name) {
  const SnapshotInfo* s = cat.FindSnapshot(name);
  if (s && Owns(c, cat.FindBranchById(s->branch))) return Status::OK();
  return Status::NotFound("no snapshot named '" + name + "'");
}

Status CheckCredential(const CatalogData& cat, const Caller& c, const std::string& id) {
  const CredentialInfo* cr = cat.FindCredential(id);
  if (cr && Owns(c, cat.FindBranchById(cr->branch))) return Status::OK();
  return Status::NotFound("no credential '" + id + "'");
}

// A string field of the body, "" when absent or of another type (the
// handler refuses those; nothing is looked up for them here).
std::string StrField(const json& body, const char* name) {
  auto it = body.find(name);
  return it != body.end() && it->is_string() ? it->get<std::string>() : "";
}

// The branch and snapshot a fork point reads ("p", "p@snap", "p@seq:N"):
// a retired branch counts through its snapshot, as BranchManager::ForkParentOf
// resolves it. A malformed spec passes: the handler refuses it.
Status CheckForkSpec(const CatalogData& cat, const Caller& c, const std::string& text) {
  Result<ForkSpec> spec = ParseForkSpec(text);
  if (!spec.ok()) return Status::OK();
  if (spec->kind == ForkSpec::Kind::kSnapshot) {
    STRATA_RETURN_IF_ERROR(CheckSnapshot(cat, c, spec->snapshot));
    const BranchInfo* b = cat.FindBranchById(cat.FindSnapshot(spec->snapshot)->branch);
    if (b->retired && b->name == spec->parent) return Status::OK();
  }
  return CheckBranch(cat, c, spec->parent);
}

// {name}, and the restore point a body may name.
Status CheckBranchRoute(const CatalogData& cat, const Caller& c, const std::string& name,
                        const json& body) {
  STRATA_RETURN_IF_ERROR(CheckBranch(cat, c, name));
  const std::string to = StrField(body, "to");
  if (!to.empty() && to[0] == '@') return CheckForkSpec(cat, c, name + to);
  return Status::OK();
}

// The parent of the owner's branch `name` (checked), when another owner's:
// only the admin may read or take it through the child. The child is
// visible and names its parent, so this refusal tells nothing new.
Status CheckParent(const CatalogData& cat, const Caller& c, const std::string& name,
                   const char* what) {
  const BranchInfo* b = cat.FindBranch(name);
  const BranchInfo* parent = b->parent ? cat.FindBranchById(b->parent) : nullptr;
  if (!parent || parent->owner == c.owner) return Status::OK();
  return Status::Permission("branch '" + name +
                            "' was forked from a branch of another owner: only the admin token "
                            "can " +
                            what);
}

// A diff reads `against` (default: the parent) as much as {name}.
Status CheckDiff(const CatalogData& cat, const Caller& c, const std::string& name,
                 const json& body) {
  STRATA_RETURN_IF_ERROR(CheckBranch(cat, c, name));
  const std::string against = StrField(body, "against");
  if (!against.empty()) return CheckBranch(cat, c, against);
  return CheckParent(cat, c, name, "diff it against its parent");
}

// A promote gives the child the parent's name: the parent must be the
// owner's too.
Status CheckPromote(const CatalogData& cat, const Caller& c, const std::string& child) {
  STRATA_RETURN_IF_ERROR(CheckBranch(cat, c, child));
  return CheckParent(cat, c, child, "promote it");
}

Status CheckCreateBranch(const CatalogData& cat, const Caller& c, json* body) {
  auto owner = body->find("owner");
  if (owner != body->end() && !owner->is_null()) {
    if (!owner->is_string() || owner->get<std::string>() != c.owner) {
      return Status::Permission("this token creates branches of owner '" + c.owner +
                                "' only, not " + owner->dump());
    }
  }
  (*body)["owner"] = c.owner;
  const std::string from = StrField(*body, "from");
  return from.empty() ? Status::OK() : CheckForkSpec(cat, c, from);
}

// An owner lists its own branches: the owner filter is forced to it, so a
// page holds `limit` of them (FilterList then only double-checks).
Status CheckListBranches(const Caller& c, json* args) {
  if (args->contains("owner") && (*args)["owner"] != c.owner) {
    return Status::Permission("this token lists branches of owner '" + c.owner + "' only, not " +
                              (*args)["owner"].dump());
  }
  (*args)["owner"] = c.owner;
  return Status::OK();
}

// Whether `item` of a kList* answer concerns a branch of `c`'s owner.
bool Visible(const CatalogData& cat, const Caller& c, Scope scope, const json& item) {
  switch (scope) {
    case Scope::kListBranches:
      return Owns(c, cat.FindBranchById(item.value("id", uint32_t{0})));
    case Scope::kListEndpoints:
      return Owns(c, cat.FindBranch(StrField(item, "branch")));
    case Scope::kListSnapshots:
      return CheckSnapshot(cat, c, StrField(item, "name")).ok();
    default:
      return true;
  }
}

}  // namespace

Status CheckScope(const CatalogData& cat, const Caller& caller, const std::string& route,
                  Scope scope, const std::vector<std::string>& params, json* body) {
  if (caller.admin()) return Status::OK();
  switch (scope) {
    case Scope::kAdmin:
      return Status::Permission(route + " needs the daemon's admin token: an owner token (owner '" +
                                caller.owner + "') cannot call it");
    case Scope::kBranch:
      return CheckBranchRoute(cat, caller, params.at(0), *body);
    case Scope::kPromote:
      return CheckPromote(cat, caller, params.at(0));
    case Scope::kDiff:
      return CheckDiff(cat, caller, params.at(0), *body);
    case Scope::kSnapshot:
      return CheckSnapshot(cat, caller, params.at(0));
    case Scope::kCredential:
      return CheckCredential(cat, caller, params.at(0));
    case Scope::kOwner:
      if (params.at(0) == caller.owner) return Status::OK();
      return Status::Permission("this token acts for owner '" + caller.owner + "' only");
    case Scope::kCreateBranch:
      return CheckCreateBranch(cat, caller, body);
    case Scope::kCreateSnapshot: {
      // A missing branch field is the handler's kInvalid.
      const std::string branch = StrField(*body, "branch");
      return branch.empty() ? Status::OK() : CheckBranch(cat, caller, branch);
    }
    case Scope::kListBranches:
      return CheckListBranches(caller, body);
    case Scope::kListEndpoints:
    case Scope::kListSnapshots:
      return Status::OK();
  }
  return Status::Permission("unknown route scope");
}

json FilterList(const CatalogData& cat, const Caller& caller, Scope scope, json list) {
  if (caller.admin()) return list;
  // A page of a list: {"branches": [...], "next_cursor": ...}.
  if (list.is_object() && list.contains("branches")) {
    list["branches"] = FilterList(cat, caller, scope, std::move(list["branches"]));
    return list;
  }
  if (!list.is_array()) return list;
  json out = json::array();
  for (json& item : list) {
    if (Visible(cat, caller, scope, item)) out.push_back(std::move(item));
  }
  return out;
}

}  // namespace strata
