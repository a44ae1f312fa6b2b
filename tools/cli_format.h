// Human-readable output of the command line (sizes, durations, aligned tables)
// and the parsing of the values people type: durations, counts, quota limits.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/text.h"

namespace strata::cli {

// `text` on one line: trailing whitespace dropped, each run of CR/LF between
// lines replaced by "; " (the CLI prints errors and table cells on one line).
std::string OneLine(std::string_view text);

// The longest DURATION accepted: ten years, as the daemon's API.
inline constexpr int64_t kMaxDurationSeconds = int64_t{10} * 366 * 24 * 3600;

// A DURATION: "90s", "15m", "2h", "7d", or a plain number of seconds ("600").
// 1 second to 10 years. kInvalid with one sentence naming `text` otherwise.
Result<int64_t> ParseDuration(std::string_view text);

// A history window: a DURATION, or 0 ("0", "0s", "0h", ...) for none.
Result<int64_t> ParseWindow(std::string_view text);

// FormatDuration (common/text.h) prints what ParseDuration reads.

// A non-negative decimal integer ("0", "12"). kInvalid otherwise.
Result<int64_t> ParseCount(std::string_view text);

// A quota limit: "unlimited" or "-1" -> -1 (no limit), else `parse(text)`,
// which must give a value >= 0 (ParseCount, or the daemon's ParseByteSize).
using LimitParser = Result<int64_t> (*)(const std::string&);
Result<int64_t> ParseLimit(const std::string& text, LimitParser parse);

// "0 B", "512 B", "1.0 KiB", "12.3 MiB", ... up to EiB; one decimal above bytes.
std::string HumanSize(uint64_t bytes);

// Milliseconds for people: "450 ms" below a second, else seconds with one
// decimal ("2.3 s"); negative values as "-5 ms".
std::string FormatElapsedMs(int64_t ms);

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
