// Helpers of the API's route handlers (api_routes.cc, api_gc.cc): answers,
// and strict reading of a request body's fields. Every reader returns
// kInvalid with the message the client sees; none throws.
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "api/api.h"
#include "catalog/fork_spec.h"
#include "common/clock.h"

namespace strata {

inline constexpr int64_t kMaxTtlSeconds = int64_t{10} * 366 * 24 * 3600;

inline ApiResult Ok(nlohmann::json body, int status = 200) { return {status, std::move(body)}; }

// A request body's fields: unknown ones are refused, types are checked.
class Fields {
 public:
  // kInvalid "unknown field 'k'" for the first field of `body` not in `allowed`.
  static Result<Fields> Of(const nlohmann::json& body, std::initializer_list<const char*> allowed);

  bool Present(const char* name) const { return body_.contains(name); }
  bool Null(const char* name) const { return Present(name) && body_.at(name).is_null(); }
  // Absent or null: nullopt.
  Result<std::optional<std::string>> Str(const char* name) const;
  Result<std::string> Required(const char* name) const;
  Result<std::optional<int64_t>> Int(const char* name, int64_t min, int64_t max) const;
  Result<std::optional<bool>> Bool(const char* name) const;
  // `ttl_seconds` or `expires_at` (RFC 3339, in the future at `clock`) as ns
  // since the epoch; nullopt when neither is given.
  Result<std::optional<int64_t>> Expiry(Clock* clock) const;
  // A GET's query arguments arrive as strings (api.cc, Dispatch): these read
  // "true"/"1"/"false"/"0" and decimal integers, and take JSON values too.
  // Absent: nullopt. Their messages name the argument alone ("limit must be
  // ...").
  Result<std::optional<bool>> QueryBool(const char* name) const;
  Result<std::optional<int64_t>> QueryInt(const char* name, int64_t min, int64_t max) const;

 private:
  explicit Fields(const nlohmann::json& body) : body_(body) {}
  const nlohmann::json& body_;
};

// Microseconds from `started` to now at `clock` (the elapsed_us of an answer).
inline int64_t MicrosSince(Clock* clock, std::chrono::steady_clock::time_point started) {
  return std::chrono::duration_cast<std::chrono::microseconds>(clock->SteadyNow() - started)
      .count();
}

inline nlohmann::json TimeOrNull(int64_t ns) {
  return ns ? nlohmann::json(FormatRfc3339(ns)) : nlohmann::json(nullptr);
}

}  // namespace strata
