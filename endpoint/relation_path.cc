#include "endpoint/relation_path.h"

#include <charconv>

namespace strata {

namespace {

// A decimal number that fits u32, no sign, no leading zero (OIDs are printed
// with %u).
std::optional<uint32_t> Oid(std::string_view s) {
  if (s.empty() || s.size() > 10 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  uint32_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

std::optional<RelationFile> ParseRelationPath(std::string_view path) {
  RelationFile f;
  std::string_view name;
  if (path.substr(0, 7) == "global/") {
    name = path.substr(7);
  } else if (path.substr(0, 5) == "base/") {
    const std::string_view rest = path.substr(5);
    const size_t slash = rest.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    const std::optional<uint32_t> db = Oid(rest.substr(0, slash));
    if (!db || *db == 0) return std::nullopt;
    f.db_oid = *db;
    name = rest.substr(slash + 1);
  } else {
    return std::nullopt;
  }
  if (name.find('/') != std::string_view::npos) return std::nullopt;
  if (const size_t dot = name.find('.'); dot != std::string_view::npos) {
    const std::optional<uint32_t> seg = Oid(name.substr(dot + 1));
    if (!seg || *seg == 0) return std::nullopt;
    f.segment = *seg;
    name = name.substr(0, dot);
  }
  if (const size_t us = name.find('_'); us != std::string_view::npos) {
    const std::string_view fork = name.substr(us + 1);
    if (fork != "fsm" && fork != "vm" && fork != "init") return std::nullopt;
    f.fork = std::string(fork);
    name = name.substr(0, us);
  }
  const std::optional<uint32_t> node = Oid(name);
  if (!node || *node == 0) return std::nullopt;
  f.filenode = *node;
  return f;
}

}  // namespace strata
