// The logical size of a branch: the apparent size of its tree, the sum of
// the sizes of its files, symlinks and special files (a hard-linked file
// counts once), as `du --apparent-size -b` minus directories.
#pragma once

#include <cstdint>

#include "common/status.h"
#include "layers/version_store.h"

namespace strata {

// Walks the tree from `root` as `lineage` reads it.
Result<uint64_t> TreeBytes(VersionStore* versions, const Lineage& lineage, uint64_t root);

}  // namespace strata
