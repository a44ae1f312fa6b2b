// Human-readable output of the command line: sizes, durations, aligned tables.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace strata::cli {

// "0 B", "512 B", "1.0 KiB", "12.3 MiB", ... up to EiB; one decimal above bytes.
std::string HumanSize(uint64_t bytes);

// Microseconds as milliseconds with three decimals: 1234 -> "1.234".
std::string FormatMillis(int64_t micros);

// A table with a header row and columns separated by two spaces. Right-aligned
// columns suit numbers. No trailing whitespace on any line; every line ends
// with '\n'.
class Table {
 public:
  struct Column {
    std::string header;
    bool right_align = false;
  };

  explicit Table(std::vector<Column> columns);

  // Missing cells are empty, extra cells are dropped.
  void AddRow(std::vector<std::string> cells);
  size_t rows() const { return rows_.size(); }
  std::string Render() const;

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace strata::cli
