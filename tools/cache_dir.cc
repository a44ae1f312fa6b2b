#include "tools/cache_dir.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace strata::cli {

uint64_t Fnv1a64(std::string_view data) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : data) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string StoreUrlHash(std::string_view store_url) {
  char buf[17];
  snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(Fnv1a64(store_url)));
  return buf;
}

namespace {
std::optional<std::string> NonEmptyEnv(const char* name) {
  const char* v = getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

std::string StripTrailingSlashes(std::string s) {
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}
}  // namespace

CacheDirEnv CacheDirEnvFromProcess() {
  CacheDirEnv env;
  env.strata_cache_dir = NonEmptyEnv("STRATA_CACHE_DIR");
  env.xdg_cache_home = NonEmptyEnv("XDG_CACHE_HOME");
  env.is_root = geteuid() == 0;
  if (auto home = NonEmptyEnv("HOME")) {
    env.home = *home;
  } else if (const struct passwd* pw = getpwuid(geteuid()); pw != nullptr && pw->pw_dir) {
    env.home = pw->pw_dir;
  } else {
    env.home = "/tmp";
  }
  return env;
}

std::string DefaultCacheDir(std::string_view store_url, const CacheDirEnv& env) {
  if (env.strata_cache_dir) return StripTrailingSlashes(*env.strata_cache_dir);
  const std::string hash = StoreUrlHash(store_url);
  if (env.is_root) return "/var/cache/strata/" + hash;
  // The XDG spec says to ignore relative paths in $XDG_CACHE_HOME.
  std::string base = env.xdg_cache_home && env.xdg_cache_home->front() == '/'
                         ? StripTrailingSlashes(*env.xdg_cache_home)
                         : StripTrailingSlashes(env.home) + "/.cache";
  if (base == "/") base.clear();
  return base + "/strata/" + hash;
}

Status MakeDirs(const std::string& path, mode_t mode) {
  if (path.empty()) return Status::Invalid("empty directory path");
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    std::string prefix = path.substr(0, pos);
    if (prefix.empty() || prefix == "/") continue;
    if (mkdir(prefix.c_str(), mode) == 0) continue;
    int err = errno;
    struct stat st;
    if (err == EEXIST && stat(prefix.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode)) continue;
      return Status::NotDir(prefix + " exists and is not a directory");
    }
    return Status::FromErrno(err, "create directory " + prefix);
  }
  return Status::OK();
}

}  // namespace strata::cli
