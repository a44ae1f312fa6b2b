// Where a mount keeps its local state (index, op log, logs) when the user does
// not pass --cache-dir. The directory is named after a stable hash of the
// store URL, so mounting the same store again finds its warm cache.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace strata::cli {

// FNV-1a, 64 bit: stable across builds, platforms and runs (std::hash is not).
uint64_t Fnv1a64(std::string_view data);

// First 16 hex digits (lower case) of Fnv1a64(store_url): the whole hash.
std::string StoreUrlHash(std::string_view store_url);

// The process environment that decides the default cache directory.
struct CacheDirEnv {
  std::optional<std::string> strata_cache_dir;  // $STRATA_CACHE_DIR
  std::optional<std::string> xdg_cache_home;    // $XDG_CACHE_HOME
  std::string home;                             // $HOME or the passwd entry
  bool is_root = false;                         // effective uid 0
};

CacheDirEnv CacheDirEnvFromProcess();

// $STRATA_CACHE_DIR if set (used as is, one directory for this mount);
// else /var/cache/strata/<hash> for root; else $XDG_CACHE_HOME (if absolute)
// or $HOME/.cache, then /strata/<hash>.
std::string DefaultCacheDir(std::string_view store_url, const CacheDirEnv& env);

// mkdir -p: creates missing directories with `mode`; existing ones are left
// as they are. Fails if a component exists and is not a directory.
Status MakeDirs(const std::string& path, mode_t mode);

}  // namespace strata::cli
