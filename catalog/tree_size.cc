#include "catalog/tree_size.h"

#include <sys/stat.h>

#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "layers/inode.h"
#include "layers/key.h"

namespace strata {

Result<uint64_t> TreeBytes(VersionStore* versions, const Lineage& lineage, uint64_t root) {
  uint64_t bytes = 0;
  std::vector<uint64_t> dirs{root};
  std::vector<uint64_t> files;
  std::unordered_set<uint64_t> seen{root};
  while (!dirs.empty()) {
    const uint64_t dir = dirs.back();
    dirs.pop_back();
    STRATA_RETURN_IF_ERROR(
        versions->Scan(lineage, DirentPrefix(dir), [&](std::string_view, const std::string& value) {
          uint64_t ino = 0;
          uint32_t type = 0;
          if (!DecodeDirent(value, &ino, &type) || !seen.insert(ino).second) return;
          (S_ISDIR(type) ? dirs : files).push_back(ino);
        }));
  }
  for (uint64_t ino : files) {
    STRATA_ASSIGN_OR_RETURN(std::optional<std::string> v, versions->Get(lineage, AttrKey(ino)));
    InodeAttr a;
    if (v && DecodeInodeAttr(*v, &a)) bytes += a.size;
  }
  return bytes;
}

}  // namespace strata
