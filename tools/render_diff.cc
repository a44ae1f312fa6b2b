#include "tools/render_diff.h"

#include <string>

#include "tools/cli_format.h"

namespace strata::cli {

namespace {

using nlohmann::json;

std::string Str(const json& j, const char* k) {
  return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : "-";
}
bool Count(const json& j, const char* k) {
  return j.contains(k) && j[k].is_number_integer() && j[k].get<int64_t>() >= 0;
}
std::string Num(const json& j, const char* k) {
  return Count(j, k) ? std::to_string(j[k].get<uint64_t>()) : "-";
}
std::string Size(const json& j, const char* k) {
  return Count(j, k) ? HumanSize(j[k].get<uint64_t>()) : "-";
}

// "created", "deleted", "truncated" or "changed".
std::string FileState(const json& f) {
  for (const char* s : {"created", "deleted", "truncated"}) {
    if (f.value(s, false)) return s;
  }
  return "changed";
}

}  // namespace

std::string RenderDiff(const json& diff) {
  std::string out = Str(diff, "branch") + " against " + Str(diff, "against");
  if (diff.contains("base") && diff["base"].is_object()) {
    out += ", since " + Str(diff["base"], "branch") + "@seq:" + Num(diff["base"], "seq");
  }
  if (diff.contains("elapsed_ms") && diff["elapsed_ms"].is_number_integer()) {
    out += " (" + FormatElapsedMs(diff["elapsed_ms"].get<int64_t>()) + ")";
  }
  out += "\n";
  const json rels = diff.value("relations", json::array());
  if (rels.empty()) {
    out += "\nno relation changed\n";
  } else {
    Table t({{"RELATION"}, {"KIND"}, {"SIDE"}, {"PAGES", true}, {"BYTES", true}});
    for (const json& r : rels) {
      t.AddRow({Str(r, "name"), Str(r, "kind"), Str(r, "side"), Num(r, "pages_changed"),
                Size(r, "bytes")});
    }
    out += "\n" + t.Render();
  }
  const json files = diff.value("files", json::array());
  if (!files.empty()) {
    Table t({{"FILE"}, {"STATE"}, {"SIDE"}, {"PAGES", true}, {"BYTES", true}});
    for (const json& f : files) {
      t.AddRow({Str(f, "path"), FileState(f), Str(f, "side"), Num(f, "pages_changed"),
                Size(f, "bytes")});
    }
    out += "\n" + t.Render();
  }
  if (diff.contains("schema_diff") && diff["schema_diff"].is_string()) {
    const std::string s = diff["schema_diff"].get<std::string>();
    out += s.empty() ? "\nno schema change\n" : "\n" + s;
    if (!s.empty() && s.back() != '\n') out += "\n";
  }
  return out;
}

}  // namespace strata::cli
