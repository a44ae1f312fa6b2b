#include "objstore/object_store.h"

#include "common/text.h"
#include "objstore/file_store.h"
#include "objstore/s3_store.h"

namespace strata {
namespace {

Status BadUrl(const std::string& url, const std::string& why) {
  return Status::Invalid("invalid store URL \"" + url + "\": " + why);
}

}  // namespace

std::string_view InvalidKeyReason(std::string_view key) {
  if (key.empty()) return "empty";
  if (key.find('\0') != std::string_view::npos) return "contains a NUL byte";
  if (key.front() == '/') return "must be relative";
  if (key.back() == '/') return "ends with '/'";
  if (key.find("//") != std::string_view::npos) return "contains \"//\"";
  if (key.find("..") != std::string_view::npos) return "contains \"..\"";
  if (key == "LOCK") return "LOCK is reserved (the lease object of old daemons)";
  size_t start = 0;
  while (start <= key.size()) {
    size_t end = key.find('/', start);
    if (end == std::string_view::npos) end = key.size();
    std::string_view comp = key.substr(start, end - start);
    if (comp == ".") return "contains a \".\" component";
    if (comp.starts_with(".tmp-")) return "components starting with \".tmp-\" are reserved";
    start = end + 1;
  }
  return {};
}

Result<std::unique_ptr<ObjectStore>> OpenObjectStore(const std::string& url) {
  const std::string expected = "expected file:///absolute/path or s3://bucket[/prefix]";
  if (url.find('\0') != std::string::npos) return BadUrl(url, "contains a NUL byte");
  if (StartsWithNoCase(url, "s3://")) {
    STRATA_ASSIGN_OR_RETURN(std::unique_ptr<S3ObjectStore> s3, S3ObjectStore::Open(url));
    return std::unique_ptr<ObjectStore>(std::move(s3));
  }
  if (!StartsWithNoCase(url, "file://")) {
    size_t colon = url.find("://");
    if (colon == std::string::npos || colon == 0) return BadUrl(url, "no scheme; " + expected);
    return BadUrl(url, "unsupported scheme \"" + url.substr(0, colon) + "://\"; " + expected);
  }
  std::string path = url.substr(7);
  if (path.empty() || path.front() != '/') {
    // "file://host/x" names a host, and "file://rel" is not absolute.
    return BadUrl(url, "the path must be absolute (three slashes); " + expected);
  }
  // Normalize "//" runs and a trailing '/', refusing "." and ".." so that one
  // store has one spelling (it appears in lease messages and logs).
  std::string norm;
  size_t start = 0;
  while (start < path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string_view comp(path.data() + start, end - start);
    if (comp == "." || comp == "..") {
      return BadUrl(url, "the path must not contain \".\" or \"..\" components; " + expected);
    }
    if (!comp.empty()) {
      norm += '/';
      norm += comp;
    }
    start = end + 1;
  }
  if (norm.empty()) return BadUrl(url, "the path must name a directory other than /; " + expected);
  return std::unique_ptr<ObjectStore>(new FileObjectStore(norm));
}

Status ObjectStore::DeleteMany(const std::vector<std::string>& keys) {
  for (const std::string& k : keys) STRATA_RETURN_IF_ERROR(Delete(k));
  return Status::OK();
}

}  // namespace strata
