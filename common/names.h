// Validation of branch and snapshot names on the client side, before a request
// is sent. The daemon validates too; checking here gives the same clear message
// without a round trip.
#pragma once

#include <string_view>

#include "common/status.h"

namespace strata::cli {

// True for 1-63 characters of [A-Za-z0-9_-] not starting with '-'.
bool IsValidName(std::string_view name);

// OK, or kInvalid "invalid <kind> name '<name>': use 1-63 letters, digits,
// '-' or '_'" where kind is e.g. "branch" or "snapshot".
Status ValidateName(std::string_view kind, std::string_view name);

}  // namespace strata::cli
