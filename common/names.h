// The name rule of branches, snapshots and owners: 1-63 characters of
// [A-Za-z0-9_-], not starting with '-'. Names appear in paths (mnt/<branch>),
// in dbname=BRANCH.DATABASE, in logs and metric labels, and on command lines,
// so they never hold '/', '.', '@', spaces or a leading option dash. The one
// rule, checked by the catalog, the API, the proxy and the CLI.
#pragma once

#include <cstddef>
#include <string_view>

#include "common/status.h"

namespace strata {

inline constexpr size_t kMaxNameLength = 63;

bool IsValidName(std::string_view name);

// OK, or kInvalid "invalid <kind> name '<name>': use 1-63 letters, digits,
// '-' or '_', not starting with '-'" where kind is e.g. "branch" or "owner".
Status ValidateName(std::string_view kind, std::string_view name);

}  // namespace strata
