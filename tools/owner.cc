#include "tools/owner.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace strata::cli {

namespace {

std::optional<uint32_t> ParseId(std::string_view s) {
  uint32_t v = 0;
  if (s.empty()) return std::nullopt;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v == UINT32_MAX) return std::nullopt;
  return v;
}

std::optional<struct passwd> LookupUser(const std::string& name, bool by_id, uid_t uid,
                                        std::vector<char>& buf) {
  struct passwd pw;
  struct passwd* found = nullptr;
  buf.assign(16384, 0);
  int rc = by_id ? getpwuid_r(uid, &pw, buf.data(), buf.size(), &found)
                 : getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0 || found == nullptr) return std::nullopt;
  return pw;
}

Result<gid_t> ResolveGroup(const std::string& spec) {
  if (auto id = ParseId(spec)) return static_cast<gid_t>(*id);
  std::vector<char> buf(16384);
  struct group gr;
  struct group* found = nullptr;
  if (getgrnam_r(spec.c_str(), &gr, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return Status::Invalid("unknown group '" + spec + "'");
  }
  return gr.gr_gid;
}

}  // namespace

Owner CallerOwner() { return Owner{getuid(), getgid()}; }

Result<Owner> ResolveOwner(const std::string& spec) {
  size_t colon = spec.find(':');
  std::string user = spec.substr(0, colon);
  std::optional<std::string> group;
  if (colon != std::string::npos) group = spec.substr(colon + 1);
  if (user.empty() || (group && group->empty())) {
    return Status::Invalid("invalid owner '" + spec + "': use USER, UID, USER:GROUP or UID:GID");
  }

  Owner owner;
  std::vector<char> buf;
  std::optional<uint32_t> uid = ParseId(user);
  std::optional<struct passwd> pw =
      uid ? LookupUser("", true, static_cast<uid_t>(*uid), buf) : LookupUser(user, false, 0, buf);
  if (pw) {
    owner.uid = pw->pw_uid;
    owner.gid = pw->pw_gid;
  } else if (uid && group) {
    owner.uid = static_cast<uid_t>(*uid);
  } else if (uid) {
    return Status::Invalid("unknown user '" + user + "': no passwd entry for that uid; pass " +
                           user + ":GID");
  } else {
    return Status::Invalid("unknown user '" + user + "'");
  }
  if (group) {
    STRATA_ASSIGN_OR_RETURN(owner.gid, ResolveGroup(*group));
  }
  return owner;
}

}  // namespace strata::cli
