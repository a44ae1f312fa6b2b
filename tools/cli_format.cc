#include "tools/cli_format.h"

#include <algorithm>
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <utility>

namespace strata::cli {

namespace {

// Digits only (no sign, no spaces) into an int64; false on overflow.
bool ParseDigits(std::string_view s, int64_t* out) {
  if (s.empty() || s.front() < '0' || s.front() > '9') return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

std::string OneLine(std::string_view text) {
  size_t end = text.find_last_not_of(" \t\r\n");
  text = end == std::string_view::npos ? std::string_view() : text.substr(0, end + 1);
  std::string out;
  for (size_t i = 0; i < text.size();) {
    if (text[i] == '\r' || text[i] == '\n') {
      while (i < text.size() && (text[i] == '\r' || text[i] == '\n')) ++i;
      out += "; ";
    } else {
      out += text[i++];
    }
  }
  return out;
}

namespace {

// A DURATION of at least `min_seconds` (0 or 1).
Result<int64_t> ParseDurationFrom(std::string_view text, int64_t min_seconds) {
  std::string_view digits = text;
  int64_t unit = 1;
  if (!digits.empty()) {
    switch (digits.back()) {
      case 's':
        unit = 1;
        break;
      case 'm':
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'd':
        unit = 86400;
        break;
      default:
        unit = 0;
        break;
    }
    if (unit != 0) {
      digits.remove_suffix(1);
    } else {
      unit = 1;
    }
  }
  int64_t n = 0;
  if (!ParseDigits(digits, &n)) {
    return Status::Invalid("bad duration \"" + std::string(text) +
                           "\": want a number of seconds, or N with s, m, h or d "
                           "(e.g. 90s, 15m, 2h, 7d)");
  }
  if (n < min_seconds) {
    return Status::Invalid("bad duration \"" + std::string(text) + "\": must be at least 1s");
  }
  if (n > kMaxDurationSeconds / unit) {
    return Status::Invalid("bad duration \"" + std::string(text) + "\": at most 10 years (" +
                           std::to_string(kMaxDurationSeconds / 86400) + "d)");
  }
  return n * unit;
}

}  // namespace

Result<int64_t> ParseDuration(std::string_view text) { return ParseDurationFrom(text, 1); }

Result<int64_t> ParseWindow(std::string_view text) { return ParseDurationFrom(text, 0); }

Result<int64_t> ParseCount(std::string_view text) {
  int64_t n = 0;
  if (!ParseDigits(text, &n)) {
    return Status::Invalid("bad number \"" + std::string(text) + "\": want a whole number >= 0");
  }
  return n;
}

Result<int64_t> ParseLimit(const std::string& text, LimitParser parse) {
  if (text == "unlimited" || text == "-1") return int64_t{-1};
  STRATA_ASSIGN_OR_RETURN(int64_t n, parse(text));
  if (n < 0) return Status::Invalid("bad limit \"" + text + "\": want >= 0, or unlimited");
  return n;
}

std::string HumanSize(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double value = static_cast<double>(bytes) / 1024.0;
  size_t unit = 0;
  // Move up a unit when the value would print as "1024.0".
  while (value >= 1023.95 && unit + 1 < std::size(kUnits)) {
    value /= 1024.0;
    ++unit;
  }
  char buf[32];
  snprintf(buf, sizeof(buf), "%.1f %s", value, kUnits[unit]);
  return buf;
}

std::string FormatElapsedMs(int64_t ms) {
  if (ms < 1000) return std::to_string(ms) + " ms";
  char buf[32];
  snprintf(buf, sizeof(buf), "%.1f s", static_cast<double>(ms) / 1000.0);
  return buf;
}

std::string FormatMillis(int64_t micros) {
  const char* sign = micros < 0 ? "-" : "";
  uint64_t abs_us = micros < 0 ? -static_cast<uint64_t>(micros) : static_cast<uint64_t>(micros);
  char buf[48];
  snprintf(buf, sizeof(buf), "%s%" PRIu64 ".%03" PRIu64, sign, abs_us / 1000, abs_us % 1000);
  return buf;
}

Table::Table(std::vector<Column> columns) : columns_(std::move(columns)) {}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(columns_.size());
  rows_.push_back(std::move(cells));
}

std::string Table::Render() const {
  std::vector<size_t> width(columns_.size());
  for (size_t c = 0; c < columns_.size(); ++c) {
    width[c] = columns_[c].header.size();
    for (const auto& row : rows_) width[c] = std::max(width[c], row[c].size());
  }
  std::string out;
  auto emit = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t c = 0; c < cells.size(); ++c) {
      const std::string& cell = cells[c];
      std::string pad(width[c] - cell.size(), ' ');
      if (c > 0) line += "  ";
      if (columns_[c].right_align) {
        line += pad + cell;
      } else {
        line += cell + pad;
      }
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out += '\n';
  };
  std::vector<std::string> header;
  header.reserve(columns_.size());
  for (const auto& col : columns_) header.push_back(col.header);
  emit(header);
  for (const auto& row : rows_) emit(row);
  return out;
}

}  // namespace strata::cli
