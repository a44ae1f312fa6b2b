// The owner (uid, gid) of a new root branch's top directory, from --owner.
#pragma once

#include <sys/types.h>

#include <string>

#include "common/status.h"

namespace strata::cli {

struct Owner {
  uid_t uid = 0;
  gid_t gid = 0;
};

// The caller's real uid and gid (under sudo that is root: pass --owner).
Owner CallerOwner();

// "USER", "UID", "USER:GROUP" or "UID:GID". A name is looked up in the user
// (group) database; a user's gid is its primary group unless a group is
// given. A numeric uid without a passwd entry needs an explicit ":GID".
// kInvalid "unknown user 'x'" (or group) otherwise.
Result<Owner> ResolveOwner(const std::string& spec);

}  // namespace strata::cli
