// Rendering of GC reports and of the collector's state (render_gc.h).
#include "tools/render_gc.h"

#include <cstdint>

#include "tools/cli_format.h"
#include "tools/render.h"

namespace strata::cli {

namespace {

// A milliseconds field as FormatElapsedMs ("450 ms", "2.3 s"), or "-".
std::string ElapsedMsCell(const nlohmann::json& obj, const char* key) {
  const nlohmann::json* v = Field(obj, key);
  if (v == nullptr || !v->is_number_integer()) return "-";
  return FormatElapsedMs(v->get<int64_t>());
}

// "every 1m" (whole seconds as FormatDuration), "every 500 ms", or "every -".
std::string Interval(const nlohmann::json& gc) {
  const nlohmann::json* v = Field(gc, "interval_ms");
  if (v == nullptr || !v->is_number_integer()) return "every -";
  int64_t ms = v->get<int64_t>();
  if (ms > 0 && ms % 1000 == 0) return "every " + FormatDuration(ms / 1000);
  return "every " + FormatElapsedMs(ms);
}

// "D/T branches[ (BRANCH)]" of a running pass.
std::string Running(const nlohmann::json& running) {
  std::string out = Cell(running, "done") + "/" + Cell(running, "total") + " branches";
  if (Field(running, "branch")) out += " (" + Cell(running, "branch") + ")";
  return out;
}

}  // namespace

std::string DescribeGcReport(const nlohmann::json& r) {
  std::string out = "freed " + SizeCell(r, "freed_bytes") + " in " +
                    ElapsedMsCell(r, "elapsed_ms") + " (layers " + Cell(r, "layers_before") +
                    " -> " + Cell(r, "layers_after") + ", store " + SizeCell(r, "bytes_before") +
                    " -> " + SizeCell(r, "bytes_after") + ")";
  const nlohmann::json* leaked = Field(r, "leaked_objects_deleted");
  if (leaked && leaked->is_number_integer() && leaked->get<int64_t>() > 0) {
    out += ", " + leaked->dump() + " leaked objects deleted";
  }
  return out;
}

std::string DescribeGcProgress(const nlohmann::json& gc) {
  const nlohmann::json* running = Field(gc, "running");
  return running ? "gc: " + Running(*running) : "";
}

std::string GcSummary(const nlohmann::json& gc) {
  const nlohmann::json* enabled = Field(gc, "enabled");
  std::string out;
  if (enabled == nullptr || !enabled->is_boolean()) {
    out = "-";
  } else if (enabled->get<bool>()) {
    out = "on, " + Interval(gc) + ", at most " + SizeCell(gc, "rate_bytes_per_second") + "/s";
  } else {
    out = "off (--no-gc: only 'strata gc' runs a pass)";
  }
  out += "; " + Cell(gc, "passes") + " passes, " + SizeCell(gc, "freed_bytes_total") + " freed";
  if (const nlohmann::json* running = Field(gc, "running"))
    out += "; running: " + Running(*running);
  return out;
}

std::string LastGcPass(const nlohmann::json& gc) {
  const nlohmann::json* last = Field(gc, "last_pass");
  if (last == nullptr) return "never";
  return Cell(*last, "finished") + ": " + DescribeGcReport(*last);
}

}  // namespace strata::cli
