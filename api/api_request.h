// Helpers of the API's route handlers (api_routes.cc, api_gc.cc): answers,
// and strict reading of a request body's fields.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>

#include "api/api.h"
#include "catalog/fork_spec.h"
#include "common/clock.h"

namespace strata {

inline constexpr int64_t kMaxTtlSeconds = int64_t{10} * 366 * 24 * 3600;

inline ApiResult Ok(nlohmann::json body, int status = 200) { return {status, std::move(body)}; }
inline ApiResult Err(const Status& st) {
  return {Api::HttpStatus(st.code()),
          nlohmann::json{{"code", Api::CodeName(st.code())}, {"error", st.message()}}};
}

// A request body's fields: unknown ones are refused, types are checked.
class Fields {
 public:
  Fields(const nlohmann::json& body, std::initializer_list<const char*> allowed) : body_(body) {
    std::set<std::string> ok(allowed.begin(), allowed.end());
    for (const auto& [k, v] : body.items()) {
      if (!ok.count(k)) throw std::invalid_argument("unknown field '" + k + "'");
    }
  }
  bool Present(const char* name) const { return body_.contains(name); }
  bool Null(const char* name) const { return Present(name) && body_.at(name).is_null(); }
  std::optional<std::string> Str(const char* name) const {
    if (!Present(name) || Null(name)) return std::nullopt;
    if (!body_.at(name).is_string()) {
      throw std::invalid_argument(std::string("field '") + name + "' must be a string");
    }
    return body_.at(name).get<std::string>();
  }
  std::string Required(const char* name) const {
    std::optional<std::string> s = Str(name);
    if (!s) throw std::invalid_argument(std::string("missing string field '") + name + "'");
    return *s;
  }
  std::optional<int64_t> Int(const char* name, int64_t min, int64_t max) const {
    if (!Present(name) || Null(name)) return std::nullopt;
    const nlohmann::json& v = body_.at(name);
    if (!v.is_number_integer() || v.get<int64_t>() < min || v.get<int64_t>() > max ||
        (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(max))) {
      throw std::invalid_argument(std::string("field '") + name + "' must be an integer from " +
                                  std::to_string(min) + " to " + std::to_string(max));
    }
    return v.get<int64_t>();
  }
  std::optional<bool> Bool(const char* name) const {
    if (!Present(name) || Null(name)) return std::nullopt;
    if (!body_.at(name).is_boolean()) {
      throw std::invalid_argument(std::string("field '") + name + "' must be true or false");
    }
    return body_.at(name).get<bool>();
  }
  // `ttl_seconds` or `expires_at` (RFC 3339, in the future) as ns since the
  // epoch; nullopt when neither is given.
  std::optional<int64_t> Expiry() const {
    std::optional<int64_t> ttl = Int("ttl_seconds", 1, kMaxTtlSeconds);
    std::optional<std::string> at = Str("expires_at");
    if (ttl && at) throw std::invalid_argument("give ttl_seconds or expires_at, not both");
    if (ttl) return NowNs() + *ttl * 1'000'000'000;
    if (!at) return std::nullopt;
    Result<int64_t> ns = ParseRfc3339(*at);
    if (!ns.ok()) throw std::invalid_argument("expires_at: " + ns.status().message());
    if (*ns <= NowNs()) throw std::invalid_argument("expires_at " + *at + " is in the past");
    return *ns;
  }

 private:
  const nlohmann::json& body_;
};

inline nlohmann::json TimeOrNull(int64_t ns) {
  return ns ? nlohmann::json(FormatRfc3339(ns)) : nlohmann::json(nullptr);
}

}  // namespace strata
