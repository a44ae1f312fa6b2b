#include "catalog/fork_spec.h"

#include <cctype>
#include <charconv>
#include <cstdio>
#include <ctime>

namespace strata {

namespace {

bool ParseDigits(const std::string& s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; i++) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

}  // namespace

Result<int64_t> ParseRfc3339(const std::string& s) {
  auto bad = [&] {
    return Status::Invalid("invalid time '" + s +
                           "': expected RFC 3339, e.g. 2026-11-21T10:00:00Z or "
                           "2026-11-21T10:00:00.250+01:00");
  };
  int year, mon, day, hour, min, sec;
  if (!ParseDigits(s, 0, 4, &year) || s.size() < 20 || s[4] != '-' || !ParseDigits(s, 5, 2, &mon) ||
      s[7] != '-' || !ParseDigits(s, 8, 2, &day) ||
      (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !ParseDigits(s, 11, 2, &hour) ||
      s[13] != ':' || !ParseDigits(s, 14, 2, &min) || s[16] != ':' ||
      !ParseDigits(s, 17, 2, &sec)) {
    return bad();
  }
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (mon < 1 || mon > 12 || day < 1 || day > kDays[mon - 1] + (mon == 2 && leap) || hour > 23 ||
      min > 59 || sec > 60) {
    return bad();
  }
  // Nanoseconds since the epoch fit an int64 from 1677 until 2262.
  if (year < 1678 || year > 2261) {
    return Status::Invalid("time '" + s + "' is out of range: RFC 3339 times in years 1678-2261");
  }
  size_t pos = 19;
  int64_t frac_ns = 0;
  if (pos < s.size() && s[pos] == '.') {
    pos++;
    int digits = 0;
    int64_t scale = 100000000;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
      if (digits < 9) frac_ns += (s[pos] - '0') * scale;
      scale /= 10;
      digits++;
      pos++;
    }
    if (digits == 0) return bad();
  }
  int64_t offset_s = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    pos++;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!ParseDigits(s, pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !ParseDigits(s, pos + 4, 2, &om) || oh > 23 || om > 59) {
      return bad();
    }
    offset_s = (oh * 3600 + om * 60) * (s[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return bad();
  }
  if (pos != s.size()) return bad();
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  time_t t = timegm(&tm);
  return (static_cast<int64_t>(t) - offset_s) * 1000000000 + frac_ns;
}

Result<ForkSpec> ParseForkSpec(const std::string& spec) {
  ForkSpec out;
  size_t at = spec.find('@');
  out.parent = spec.substr(0, at);
  STRATA_RETURN_IF_ERROR(ValidateName("branch", out.parent));
  if (at == std::string::npos) return out;
  std::string point = spec.substr(at + 1);
  if (point.rfind("seq:", 0) == 0) {
    std::string digits = point.substr(4);
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size()) {
      return Status::Invalid("invalid seq '" + digits + "' in '" + spec +
                             "': expected a non-negative integer, e.g. main@seq:42");
    }
    out.kind = ForkSpec::Kind::kSeq;
    out.seq = v;
  } else if (point.rfind("time:", 0) == 0) {
    STRATA_ASSIGN_OR_RETURN(out.time_ns, ParseRfc3339(point.substr(5)));
    out.kind = ForkSpec::Kind::kTime;
  } else {
    STRATA_RETURN_IF_ERROR(ValidateName("snapshot", point));
    out.kind = ForkSpec::Kind::kSnapshot;
    out.snapshot = point;
  }
  return out;
}

}  // namespace strata
