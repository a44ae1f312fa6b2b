#include "tools/render.h"

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "tools/cli_format.h"

namespace strata::cli {

namespace {

const nlohmann::json* Field(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

// " in X.XXX ms" from elapsed_us, or "" without it.
std::string Elapsed(const nlohmann::json& obj) {
  const nlohmann::json* us = Field(obj, "elapsed_us");
  if (us == nullptr || !us->is_number()) return "";
  return " in " + FormatMillis(us->get<int64_t>()) + " ms";
}

const nlohmann::json& ArrayOrEmpty(const nlohmann::json* j) {
  static const nlohmann::json kEmpty = nlohmann::json::array();
  return j != nullptr && j->is_array() ? *j : kEmpty;
}

}  // namespace

std::string Cell(const nlohmann::json& obj, const char* key) {
  const nlohmann::json* v = Field(obj, key);
  if (v == nullptr) return "-";
  if (v->is_string()) return v->get<std::string>();
  return v->dump();
}

std::string SizeCell(const nlohmann::json& obj, const char* key) {
  const nlohmann::json* v = Field(obj, key);
  if (v == nullptr || !v->is_number()) return "-";
  if (v->is_number_unsigned()) return HumanSize(v->get<uint64_t>());
  int64_t n = v->get<int64_t>();
  return n < 0 ? v->dump() : HumanSize(static_cast<uint64_t>(n));
}

std::string ForkPoint(const nlohmann::json& branch) {
  if (Field(branch, "parent") == nullptr) return "";
  return Cell(branch, "parent") + "@seq:" + Cell(branch, "fork_seq");
}

std::string RenderBranchTable(const nlohmann::json& branches) {
  Table t({{"NAME"},
           {"PARENT"},
           {"FORK_SEQ", true},
           {"SEQ", true},
           {"DURABLE_SEQ", true},
           {"DURABILITY"},
           {"CREATED"}});
  for (const auto& b : ArrayOrEmpty(&branches)) {
    bool root = Field(b, "parent") == nullptr;
    t.AddRow({Cell(b, "name"), Cell(b, "parent"), root ? "-" : Cell(b, "fork_seq"), Cell(b, "seq"),
              Cell(b, "durable_seq"), Cell(b, "durability"), Cell(b, "created")});
  }
  return t.Render();
}

std::string RenderSnapshotTable(const nlohmann::json& snapshots) {
  Table t({{"NAME"}, {"BRANCH"}, {"SEQ", true}, {"CREATED"}});
  for (const auto& s : ArrayOrEmpty(&snapshots)) {
    t.AddRow({Cell(s, "name"), Cell(s, "branch"), Cell(s, "seq"), Cell(s, "created")});
  }
  return t.Render();
}

std::string RenderStatus(const nlohmann::json& st) {
  std::string segments = Cell(st, "oplog_segments");
  std::vector<std::pair<std::string, std::string>> kv = {
      {"store", Cell(st, "store")},
      {"mount", Cell(st, "mount")},
      {"cache dir", Cell(st, "cache_dir")},
      {"daemon pid", Cell(st, "pid")},
      {"op log", SizeCell(st, "oplog_bytes") + " in " + segments +
                     (segments == "1" ? " segment" : " segments")},
      {"memtable", SizeCell(st, "memtable_bytes")},
      {"layers", Cell(st, "layer_count") + " (" + SizeCell(st, "layer_bytes") + ")"},
      {"store size", SizeCell(st, "store_bytes")},
      {"snapshots", Cell(st, "snapshots")},
  };
  if (const nlohmann::json* cache = Field(st, "cache")) {
    if (const nlohmann::json* l1 = Field(*cache, "l1")) {
      kv.push_back({"L1 cache", Cell(*l1, "hits") + " hits, " + Cell(*l1, "misses") + " misses, " +
                                    SizeCell(*l1, "bytes") + " of " + SizeCell(*l1, "capacity")});
    }
    if (const nlohmann::json* l2 = Field(*cache, "l2")) {
      kv.push_back({"L2 cache", Cell(*l2, "hits") + " hits, " + Cell(*l2, "misses") + " misses, " +
                                    SizeCell(*l2, "bytes") + " of " + SizeCell(*l2, "capacity") +
                                    ", " + SizeCell(*l2, "fetched_bytes") + " fetched"});
    } else {
      kv.push_back({"L2 cache", "off"});
    }
    if (const nlohmann::json* l3 = Field(*cache, "l3")) {
      kv.push_back({"L3 store", Cell(*l3, "reads") + " reads (" + SizeCell(*l3, "read_bytes") +
                                    "), " + Cell(*l3, "writes") + " writes (" +
                                    SizeCell(*l3, "write_bytes") + "), " + Cell(*l3, "retries") +
                                    " retries, " + Cell(*l3, "errors") + " errors"});
    }
  }
  if (const nlohmann::json* ws = Field(st, "walsink"); ws && ws->is_object()) {
    std::string line =
        Cell(*ws, "server") +
        (Field(*ws, "connected") && (*ws)["connected"].get<bool>() ? ", connected"
                                                                   : ", NOT CONNECTED") +
        ", " + SizeCell(*ws, "unacked_bytes") + " unacknowledged, " + Cell(*ws, "reconnects") +
        " reconnects";
    if (Cell(*ws, "last_error") != "" && Cell(*ws, "last_error") != "-") {
      line += " (last error: " + Cell(*ws, "last_error") + ")";
    }
    kv.push_back({"walsink", line});
  } else {
    kv.push_back({"walsink", "none (op log on this machine only)"});
  }
  std::string out;
  size_t width = 0;
  for (const auto& [k, v] : kv) width = std::max(width, k.size() + 1);
  for (const auto& [k, v] : kv) {
    out += k + ":" + std::string(width - k.size() - 1, ' ') + "  " + v + "\n";
  }
  out += "\n";

  Table t({{"NAME"},
           {"PARENT"},
           {"FORK_SEQ", true},
           {"SEQ", true},
           {"TIER"},
           {"ACKED_SEQ", true},
           {"DURABLE_SEQ", true},
           {"LAG", true},
           {"MEMTABLE", true},
           {"LAYERS", true},
           {"LAYER_BYTES", true}});
  for (const auto& b : ArrayOrEmpty(Field(st, "branches"))) {
    bool root = Field(b, "parent") == nullptr;
    t.AddRow({Cell(b, "name"), Cell(b, "parent"), root ? "-" : Cell(b, "fork_seq"), Cell(b, "seq"),
              Cell(b, "durability"), Cell(b, "acked_seq"), Cell(b, "durable_seq"), Cell(b, "lag"),
              SizeCell(b, "memtable_bytes"), Cell(b, "layers"), SizeCell(b, "layer_bytes")});
  }
  out += t.Render();
  return out;
}

std::string DescribeBranchCreated(const nlohmann::json& branch) {
  std::string fork = ForkPoint(branch);
  if (fork.empty()) return "created root branch " + Cell(branch, "name");
  return "created branch " + Cell(branch, "name") + " from " + fork + Elapsed(branch);
}

std::string DescribeBranchReset(const nlohmann::json& branch) {
  std::string fork = ForkPoint(branch);
  if (fork.empty()) return "reset branch " + Cell(branch, "name");
  return "reset branch " + Cell(branch, "name") + " to " + fork;
}

std::string DescribeSnapshotCreated(const nlohmann::json& snap) {
  return "created snapshot " + Cell(snap, "name") + " of " + Cell(snap, "branch") + " at seq " +
         Cell(snap, "seq") + Elapsed(snap);
}

}  // namespace strata::cli
