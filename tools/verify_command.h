// `strata verify STORE_URL`: reads every object of a store and checks it
// against its checksums (tools/store_verify.h). Prints what it checked and
// every problem; fails (exit 1) if there is any.
#pragma once

#include <ostream>
#include <string>

#include "common/status.h"

namespace strata::cli {

Status Verify(const std::string& store_url, bool json, std::ostream& out);

}  // namespace strata::cli
