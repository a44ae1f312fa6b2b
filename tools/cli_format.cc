#include "tools/cli_format.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <utility>

namespace strata::cli {

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
