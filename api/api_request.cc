#include "api/api_request.h"

#include <charconv>
#include <set>

namespace strata {

Result<Fields> Fields::Of(const nlohmann::json& body, std::initializer_list<const char*> allowed) {
  const std::set<std::string> ok(allowed.begin(), allowed.end());
  for (const auto& [k, v] : body.items()) {
    if (!ok.count(k)) return Status::Invalid("unknown field '" + k + "'");
  }
  return Fields(body);
}

Result<std::optional<std::string>> Fields::Str(const char* name) const {
  if (!Present(name) || Null(name)) return std::optional<std::string>();
  if (!body_.at(name).is_string()) {
    return Status::Invalid(std::string("field '") + name + "' must be a string");
  }
  return std::optional<std::string>(body_.at(name).get<std::string>());
}

Result<std::string> Fields::Required(const char* name) const {
  STRATA_ASSIGN_OR_RETURN(std::optional<std::string> s, Str(name));
  if (!s) return Status::Invalid(std::string("missing string field '") + name + "'");
  return *s;
}

Result<std::optional<int64_t>> Fields::Int(const char* name, int64_t min, int64_t max) const {
  if (!Present(name) || Null(name)) return std::optional<int64_t>();
  const nlohmann::json& v = body_.at(name);
  if (!v.is_number_integer() || v.get<int64_t>() < min || v.get<int64_t>() > max ||
      (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(max))) {
    return Status::Invalid(std::string("field '") + name + "' must be an integer from " +
                           std::to_string(min) + " to " + std::to_string(max));
  }
  return std::optional<int64_t>(v.get<int64_t>());
}

Result<std::optional<bool>> Fields::Bool(const char* name) const {
  if (!Present(name) || Null(name)) return std::optional<bool>();
  if (!body_.at(name).is_boolean()) {
    return Status::Invalid(std::string("field '") + name + "' must be true or false");
  }
  return std::optional<bool>(body_.at(name).get<bool>());
}

Result<std::optional<bool>> Fields::QueryBool(const char* name) const {
  if (!Present(name)) return std::optional<bool>();
  const nlohmann::json& v = body_.at(name);
  if (v.is_boolean()) return std::optional<bool>(v.get<bool>());
  const std::string s = v.is_string() ? v.get<std::string>() : "";
  if (s == "true" || s == "1") return std::optional<bool>(true);
  if (s == "false" || s == "0") return std::optional<bool>(false);
  return Status::Invalid(std::string(name) + " must be true or false");
}

Result<std::optional<int64_t>> Fields::QueryInt(const char* name, int64_t min, int64_t max) const {
  if (!Present(name)) return std::optional<int64_t>();
  const nlohmann::json& v = body_.at(name);
  int64_t n = 0;
  bool ok = v.is_number_integer();
  if (ok) {
    n = v.get<int64_t>();
  } else if (v.is_string()) {
    const std::string s = v.get<std::string>();
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    ok = !s.empty() && ec == std::errc() && end == s.data() + s.size();
  }
  if (!ok || n < min || n > max) {
    return Status::Invalid(std::string(name) + " must be an integer from " + std::to_string(min) +
                           " to " + std::to_string(max));
  }
  return std::optional<int64_t>(n);
}

Result<std::optional<int64_t>> Fields::Expiry(Clock* clock) const {
  STRATA_ASSIGN_OR_RETURN(std::optional<int64_t> ttl, Int("ttl_seconds", 1, kMaxTtlSeconds));
  STRATA_ASSIGN_OR_RETURN(std::optional<std::string> at, Str("expires_at"));
  if (ttl && at) return Status::Invalid("give ttl_seconds or expires_at, not both");
  if (ttl) return std::optional<int64_t>(clock->NowNs() + *ttl * 1'000'000'000);
  if (!at) return std::optional<int64_t>();
  Result<int64_t> ns = ParseRfc3339(*at);
  if (!ns.ok()) return Status::Invalid("expires_at: " + ns.status().message());
  if (*ns <= clock->NowNs()) return Status::Invalid("expires_at " + *at + " is in the past");
  return std::optional<int64_t>(*ns);
}

}  // namespace strata
