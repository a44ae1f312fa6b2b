// Rendering of branches, snapshots and status (render.h).
#include "tools/render.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "common/filename.h"
#include "tools/cli_format.h"
#include "tools/render_gc.h"

namespace strata::cli {

namespace {

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

// " for owner O" and ", expires at T" of a branch, or "".
std::string OwnerAndExpiry(const nlohmann::json& branch) {
  std::string out;
  if (Field(branch, "owner")) out += " for owner " + Cell(branch, "owner");
  if (Field(branch, "expires_at")) out += ", expires at " + Cell(branch, "expires_at");
  return out;
}

// "running, 2 connections, idle timeout 5m" of a branch's endpoint, or "-".
std::string EndpointSummary(const nlohmann::json& branch) {
  const nlohmann::json* e = Field(branch, "endpoint");
  if (e == nullptr) return "-";
  return Cell(*e, "state") + ", " + Cell(*e, "connections") + " connections, idle timeout " +
         DurationCell(*e, "idle_timeout_seconds");
}

// "1h", "1h (default)" when the branch follows the mount's window, or "-".
std::string HistoryWindow(const nlohmann::json& branch) {
  std::string window = DurationCell(branch, "history_seconds");
  const nlohmann::json* d = Field(branch, "history_default");
  if (window != "-" && d && d->is_boolean() && d->get<bool>()) window += " (default)";
  return window;
}

// "seq N (TIME)" of the oldest point a fork or restore may use, or "-".
std::string OldestPoint(const nlohmann::json& branch) {
  const nlohmann::json* p = Field(branch, "oldest_point");
  if (p == nullptr) return "-";
  return "seq " + Cell(*p, "seq") + " (" + Cell(*p, "time") + ")";
}

}  // namespace

const nlohmann::json* Field(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string KeyValues(const std::vector<std::pair<std::string, std::string>>& kv) {
  std::string out;
  size_t width = 0;
  for (const auto& [k, v] : kv) width = std::max(width, k.size() + 1);
  for (const auto& [k, v] : kv) {
    out += k + ":" + std::string(width - k.size() - 1, ' ') + "  " + v + "\n";
  }
  return out;
}

std::string Cell(const nlohmann::json& obj, const char* key) {
  const nlohmann::json* v = Field(obj, key);
  if (v == nullptr) return "-";
  if (v->is_string()) return OneLine(v->get<std::string>());
  return v->dump();
}

std::string SizeCell(const nlohmann::json& obj, const char* key) {
  const nlohmann::json* v = Field(obj, key);
  if (v == nullptr || !v->is_number()) return "-";
  if (v->is_number_unsigned()) return HumanSize(v->get<uint64_t>());
  int64_t n = v->get<int64_t>();
  return n < 0 ? v->dump() : HumanSize(static_cast<uint64_t>(n));
}

std::string DurationCell(const nlohmann::json& obj, const char* key) {
  const nlohmann::json* v = Field(obj, key);
  if (v == nullptr || !v->is_number_integer()) return "-";
  return FormatDuration(v->get<int64_t>());
}

std::string ExpiryCell(const nlohmann::json& obj) {
  return Field(obj, "expires_at") ? Cell(obj, "expires_at") : "never";
}

std::string EndpointStateCell(const nlohmann::json& branch) {
  const nlohmann::json* e = Field(branch, "endpoint");
  return e ? Cell(*e, "state") : "-";
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
           {"CREATED"},
           {"STATE"},
           {"OWNER"},
           {"EXPIRES"},
           {"LOGICAL", true},
           {"EXCLUSIVE", true},
           {"HISTORY", true}});
  for (const auto& b : ArrayOrEmpty(&branches)) {
    bool root = Field(b, "parent") == nullptr;
    t.AddRow({Cell(b, "name"), Cell(b, "parent"), root ? "-" : Cell(b, "fork_seq"), Cell(b, "seq"),
              Cell(b, "durable_seq"), Cell(b, "durability"), Cell(b, "created"),
              EndpointStateCell(b), Cell(b, "owner"), Cell(b, "expires_at"),
              SizeCell(b, "logical_bytes"), SizeCell(b, "exclusive_bytes"),
              SizeCell(b, "history_bytes")});
  }
  return t.Render();
}

// Where the branch is written (docs/cluster.md): "node N (here), epoch E".
std::string HolderCell(const nlohmann::json& b) {
  const nlohmann::json* h = Field(b, "holder");
  if (!h) return "-";
  if (!Field(*h, "node")) return "nobody (the next daemon to write it takes it)";
  std::string where = Cell(*h, "node");
  if (h->value("here", false)) {
    where += " (this daemon)";
  } else if (!h->value("alive", false)) {
    where += " (dead: the next daemon to write it takes it)";
  }
  return where + ", epoch " + Cell(*h, "epoch") + ", since " + Cell(*h, "since");
}

std::string RenderBranchDetail(const nlohmann::json& b) {
  std::string parent = Field(b, "parent")
                           ? Cell(b, "parent") + " (forked at seq " + Cell(b, "fork_seq") + ")"
                           : "- (a root branch)";
  return KeyValues({
      {"name", Cell(b, "name")},
      {"id", Cell(b, "id")},
      {"parent", parent},
      {"created", Cell(b, "created")},
      {"owner", Cell(b, "owner")},
      {"expires", ExpiryCell(b)},
      {"durability", Cell(b, "durability")},
      {"seq", Cell(b, "seq")},
      {"acked seq", Cell(b, "acked_seq")},
      {"durable seq", Cell(b, "durable_seq")},
      {"lag", Cell(b, "lag")},
      {"memtable", SizeCell(b, "memtable_bytes")},
      {"layers", Cell(b, "layers") + " (" + SizeCell(b, "layer_bytes") + ")"},
      {"history", HistoryWindow(b)},
      {"oldest point", OldestPoint(b)},
      {"logical size", SizeCell(b, "logical_bytes")},
      {"exclusive size", SizeCell(b, "exclusive_bytes")},
      {"history size", SizeCell(b, "history_bytes")},
      {"space as of", Cell(b, "space_as_of")},
      {"detached from", Cell(b, "detached_from")},
      {"endpoint", EndpointSummary(b)},
      {"held by", HolderCell(b)},
  });
}

std::string DescribeBranchSettings(const nlohmann::json& b) {
  std::string out = "branch " + Cell(b, "name") + ": durability " + Cell(b, "durability") +
                    ", expires " + ExpiryCell(b);
  if (const nlohmann::json* e = Field(b, "endpoint")) {
    out += ", idle timeout " + DurationCell(*e, "idle_timeout_seconds");
  }
  if (Field(b, "history_seconds")) out += ", history " + HistoryWindow(b);
  return out;
}

std::string RenderSnapshotTable(const nlohmann::json& snapshots) {
  Table t({{"NAME"}, {"BRANCH"}, {"SEQ", true}, {"CREATED"}});
  for (const auto& s : ArrayOrEmpty(&snapshots)) {
    t.AddRow({Cell(s, "name"), Cell(s, "branch"), Cell(s, "seq"), Cell(s, "created")});
  }
  return t.Render();
}

namespace {

// "HOST:PORT, N active connections, M sessions, K auth failures, R refused", or "off".
std::string ProxyLine(const nlohmann::json& st) {
  if (!Field(st, "proxy")) return "off";
  std::string line = Cell(st, "proxy");
  if (const nlohmann::json* p = Field(st, "proxy_stats"); p && p->is_object()) {
    line += ", " + Cell(*p, "active") + " active connections, " + Cell(*p, "sessions") +
            " sessions, " + Cell(*p, "auth_failures") + " auth failures, " + Cell(*p, "refused") +
            " refused";
  }
  return line;
}

// "TLS required|offered, CERT (self-signed), SHA-256 FINGERPRINT", or "" without one.
std::string ProxyTlsLine(const nlohmann::json& st) {
  const nlohmann::json* p = Field(st, "proxy_stats");
  const nlohmann::json* tls = p && p->is_object() ? Field(*p, "tls") : nullptr;
  if (!tls || !tls->is_object()) return "";
  const bool required = tls->value("required", false);
  return std::string(required ? "required" : "offered") + ", " + Cell(*tls, "certificate") +
         (tls->value("self_signed", false) ? " (self-signed)" : "") + ", SHA-256 " +
         Cell(*tls, "fingerprint_sha256");
}

// "1h by default": the window of branches that set none, or "-".
std::string DefaultHistory(const nlohmann::json& st) {
  std::string window = DurationCell(st, "history_default_seconds");
  return window == "-" ? window : window + " by default";
}

// "HOST:PORT (bearer token), CACHE_DIR/control.sock", or the socket only.
std::string ApiLine(const nlohmann::json& st) {
  std::string sock = filename::ControlSocket(Cell(st, "cache_dir"));
  if (!Field(st, "api")) return sock + " only";
  return Cell(st, "api") + " (bearer token), " + sock;
}

// The cache tiers' lines of the status: L1, L2 ("off" without one), L3.
void AddCacheLines(const nlohmann::json& cache,
                   std::vector<std::pair<std::string, std::string>>* kv) {
  if (const nlohmann::json* l1 = Field(cache, "l1")) {
    kv->push_back({"L1 cache", Cell(*l1, "hits") + " hits, " + Cell(*l1, "misses") + " misses, " +
                                   SizeCell(*l1, "bytes") + " of " + SizeCell(*l1, "capacity")});
  }
  if (const nlohmann::json* l2 = Field(cache, "l2")) {
    kv->push_back({"L2 cache", Cell(*l2, "hits") + " hits, " + Cell(*l2, "misses") + " misses, " +
                                   SizeCell(*l2, "bytes") + " of " + SizeCell(*l2, "capacity") +
                                   ", " + SizeCell(*l2, "fetched_bytes") + " fetched"});
  } else {
    kv->push_back({"L2 cache", "off"});
  }
  if (const nlohmann::json* l3 = Field(cache, "l3")) {
    kv->push_back({"L3 store", Cell(*l3, "reads") + " reads (" + SizeCell(*l3, "read_bytes") +
                                   "), " + Cell(*l3, "writes") + " writes (" +
                                   SizeCell(*l3, "write_bytes") + "), " + Cell(*l3, "retries") +
                                   " retries, " + Cell(*l3, "errors") + " errors"});
  }
}

// The walsink line of the status: its server and state, or "none ...".
std::string WalsinkLine(const nlohmann::json& st) {
  const nlohmann::json* ws = Field(st, "walsink");
  const nlohmann::json* sl = Field(st, "store_log");
  if ((!ws || !ws->is_object()) && sl && sl->is_object()) return "none (--sink store)";
  if (!ws || !ws->is_object()) return "none (op log on this machine only)";
  const nlohmann::json* tls = Field(*ws, "tls");  // absent from daemons before TLS
  std::string line =
      Cell(*ws, "server") +
      (tls && tls->is_boolean() ? (tls->get<bool>() ? " (TLS)" : " (plaintext)") : "") +
      (Field(*ws, "connected") && (*ws)["connected"].get<bool>() ? ", connected"
                                                                 : ", NOT CONNECTED") +
      ", " + SizeCell(*ws, "unacked_bytes") + " unacknowledged, " + Cell(*ws, "reconnects") +
      " reconnects";
  if (Cell(*ws, "last_error") != "" && Cell(*ws, "last_error") != "-") {
    line += " (last error: " + Cell(*ws, "last_error") + ")";
  }
  return line;
}

// The store log line (--sink store): what reached the store, and its state.
std::string StoreLogLine(const nlohmann::json& sl) {
  std::string line = Cell(sl, "objects_written") + " log objects written (" +
                     SizeCell(sl, "bytes_written") + ") in " + Cell(sl, "rounds") + " rounds, " +
                     Cell(sl, "objects_deleted") + " deleted, " + Cell(sl, "fences") + " fences, " +
                     SizeCell(sl, "unacked_bytes") + " unacknowledged";
  if (Cell(sl, "last_error") != "" && Cell(sl, "last_error") != "-") {
    line += " (last error: " + Cell(sl, "last_error") + ")";
  }
  return line;
}

// The table of branches under the status.
std::string BranchTable(const nlohmann::json& st) {
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
           {"LAYER_BYTES", true},
           {"STATE"},
           {"OWNER"},
           {"EXPIRES"}});
  for (const auto& b : ArrayOrEmpty(Field(st, "branches"))) {
    bool root = Field(b, "parent") == nullptr;
    t.AddRow({Cell(b, "name"), Cell(b, "parent"), root ? "-" : Cell(b, "fork_seq"), Cell(b, "seq"),
              Cell(b, "durability"), Cell(b, "acked_seq"), Cell(b, "durable_seq"), Cell(b, "lag"),
              SizeCell(b, "memtable_bytes"), Cell(b, "layers"), SizeCell(b, "layer_bytes"),
              EndpointStateCell(b), Cell(b, "owner"), Cell(b, "expires_at")});
  }
  return t.Render();
}

}  // namespace

// "N requests; write 812 (p50 25 us, p99 1000 us), ...": the four busiest
// opcodes, or "-" without a mount's counters.
std::string FuseLine(const nlohmann::json& st) {
  const nlohmann::json* fuse = Field(st, "fuse");
  if (!fuse || !fuse->is_object()) return "-";
  std::vector<std::pair<uint64_t, std::string>> ops;
  if (const nlohmann::json* o = Field(*fuse, "ops"); o && o->is_object()) {
    for (const auto& [name, s] : o->items()) {
      ops.push_back({s.value("count", uint64_t{0}), name + " " + Cell(s, "count") + " (p50 " +
                                                        Cell(s, "p50_us") + " us, p99 " +
                                                        Cell(s, "p99_us") + " us)"});
    }
  }
  std::sort(ops.begin(), ops.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::string line = Cell(*fuse, "requests") + " requests";
  for (size_t i = 0; i < ops.size() && i < 4; i++) line += (i ? ", " : "; ") + ops[i].second;
  return line;
}

// "12.3 s; strata-fuse 8.1 s, strata-flush 450 ms, ...": the process's CPU
// time and its five busiest thread names.
std::string CpuLine(const nlohmann::json& st) {
  const nlohmann::json* cpu = Field(st, "cpu");
  if (!cpu || !cpu->is_object()) return "-";
  auto secs = [](double s) { return FormatElapsedMs(static_cast<int64_t>(s * 1000)); };
  std::vector<std::pair<double, std::string>> threads;
  if (const nlohmann::json* t = Field(*cpu, "threads"); t && t->is_object()) {
    for (const auto& [name, s] : t->items()) {
      if (s.is_number()) threads.push_back({s.get<double>(), name});
    }
  }
  std::sort(threads.begin(), threads.end(), std::greater<>());
  std::string line = secs(cpu->value("total_seconds", 0.0));
  for (size_t i = 0; i < threads.size() && i < 5; i++) {
    line += (i ? ", " : "; ") + threads[i].second + " " + secs(threads[i].first);
  }
  return line;
}

std::string RenderStatus(const nlohmann::json& st) {
  std::string segments = Cell(st, "oplog_segments");
  std::vector<std::pair<std::string, std::string>> kv = {
      {"store", Cell(st, "store")},
      {"mount", Cell(st, "mount")},
      {"cache dir", Cell(st, "cache_dir")},
      {"daemon pid", Cell(st, "pid")},
      {"proxy", ProxyLine(st)},
  };
  if (std::string tls = ProxyTlsLine(st); !tls.empty()) kv.push_back({"proxy tls", tls});
  kv.insert(kv.end(),
            {
                {"api", ApiLine(st)},
                {"op log", SizeCell(st, "oplog_bytes") + " in " + segments +
                               (segments == "1" ? " segment" : " segments")},
                {"memtable", SizeCell(st, "memtable_bytes")},
                {"layers", Cell(st, "layer_count") + " (" + SizeCell(st, "layer_bytes") + ")"},
                {"store size", SizeCell(st, "store_bytes")},
                {"history", DefaultHistory(st)},
                {"snapshots", Cell(st, "snapshots")},
                {"credentials", Cell(st, "credentials")},
                {"endpoints", Cell(st, "endpoints_running") + " running"},
            });
  if (const nlohmann::json* cache = Field(st, "cache")) AddCacheLines(*cache, &kv);
  kv.push_back({"walsink", WalsinkLine(st)});
  const nlohmann::json* sl = Field(st, "store_log");
  if (sl && sl->is_object()) kv.push_back({"store log", StoreLogLine(*sl)});
  kv.push_back({"fuse", FuseLine(st)});
  kv.push_back({"cpu", CpuLine(st)});
  const nlohmann::json* gc = Field(st, "gc");
  kv.push_back({"gc", gc ? GcSummary(*gc) : "-"});
  if (gc) kv.push_back({"last gc", LastGcPass(*gc)});
  return KeyValues(kv) + "\n" + BranchTable(st);
}

std::string DescribeBranchCreated(const nlohmann::json& branch) {
  std::string fork = ForkPoint(branch);
  if (fork.empty()) return "created root branch " + Cell(branch, "name") + OwnerAndExpiry(branch);
  return "created branch " + Cell(branch, "name") + " from " + fork + Elapsed(branch) +
         OwnerAndExpiry(branch);
}

std::string DescribeBranchReset(const nlohmann::json& branch) {
  std::string fork = ForkPoint(branch);
  if (fork.empty()) return "reset branch " + Cell(branch, "name");
  return "reset branch " + Cell(branch, "name") + " to " + fork;
}

std::string DescribeBranchDetached(const nlohmann::json& branch) {
  std::string out = "detached branch " + Cell(branch, "name");
  if (Field(branch, "detached_from")) out += " from " + Cell(branch, "detached_from");
  if (Field(branch, "copied_bytes")) out += " (copied " + SizeCell(branch, "copied_bytes") + ")";
  return out + Elapsed(branch);
}

std::string DescribeSnapshotCreated(const nlohmann::json& snap) {
  return "created snapshot " + Cell(snap, "name") + " of " + Cell(snap, "branch") + " at seq " +
         Cell(snap, "seq") + Elapsed(snap);
}

namespace {
std::string OldState(const std::string& preserve_as) {
  return preserve_as.empty() ? "retired" : "kept as " + preserve_as;
}
}  // namespace

std::string DescribeBranchRestored(const nlohmann::json& branch, const std::string& to,
                                   const std::string& preserve_as) {
  return "restored branch " + Cell(branch, "name") + " to " + to + " (old state " +
         OldState(preserve_as) + ")" + Elapsed(branch);
}

std::string DescribeBranchPromoted(const nlohmann::json& branch, const std::string& child,
                                   const std::string& preserve_as) {
  return "promoted " + child + " into " + Cell(branch, "name") + " (old state " +
         OldState(preserve_as) + ")" + Elapsed(branch);
}

}  // namespace strata::cli
