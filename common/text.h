// ASCII text helpers for parsing protocol and config text (HTTP headers, URL
// schemes, INI files). Locale-independent on purpose.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace strata {

// `s` with A-Z turned into a-z; every other byte unchanged.
inline std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// `s` without leading and trailing spaces, tabs, CRs and LFs.
inline std::string_view TrimAsciiSpace(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

// Whether `s` starts with `lower_prefix` ignoring ASCII case; the prefix must
// be given in lowercase ("s3://").
inline bool StartsWithNoCase(std::string_view s, std::string_view lower_prefix) {
  return s.size() >= lower_prefix.size() &&
         AsciiLower(s.substr(0, lower_prefix.size())) == lower_prefix;
}

// Seconds in the largest unit that divides them exactly: 90 -> "90s",
// 300 -> "5m", 7200 -> "2h", 86400 -> "1d"; 0 -> "0s".
inline std::string FormatDuration(int64_t seconds) {
  if (seconds != 0 && seconds % 86400 == 0) return std::to_string(seconds / 86400) + "d";
  if (seconds != 0 && seconds % 3600 == 0) return std::to_string(seconds / 3600) + "h";
  if (seconds != 0 && seconds % 60 == 0) return std::to_string(seconds / 60) + "m";
  return std::to_string(seconds) + "s";
}

}  // namespace strata
