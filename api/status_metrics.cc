#include "api/status_metrics.h"

#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace strata {

namespace {

using json = nlohmann::json;

// Every number in `obj` becomes gauge `prefix + field` with `labels`.
void Flatten(Metrics& m, const std::string& prefix, const json& obj, const MetricLabels& labels,
             const std::string& help) {
  if (!obj.is_object()) return;
  for (const auto& [field, v] : obj.items()) {
    if (!v.is_number() && !v.is_boolean()) continue;
    const std::string name = prefix + field;
    m.AddGauge(name, help);
    m.Set(name, labels, v.is_boolean() ? (v.get<bool>() ? 1 : 0) : v.get<double>());
  }
}

// Store and branch space, the collector's totals and the read-source
// histogram (docs/gc.md).
void AddGcMetrics(Metrics* metrics, const ApiContext& ctx) {
  metrics->AddGauge("strata_store_bytes", "Bytes of every layer of every branch in the store");
  for (const char* f : {"logical", "exclusive", "history"}) {
    metrics->AddGauge(std::string("strata_branch_") + f + "_bytes",
                      std::string("Branch ") + f + " bytes as the last GC pass measured them");
  }
  metrics->AddCounter("strata_gc_passes_total", "Compaction and GC passes");
  metrics->AddCounter("strata_gc_freed_bytes_total", "Layer bytes freed by compaction and GC");
  metrics->AddCounter("strata_gc_deleted_layers_total", "Layers deleted by compaction and GC");
  metrics->AddCounter("strata_gc_written_layers_total", "Layers written by compaction");
  std::vector<double> bounds(std::begin(kReadSourceBounds), std::end(kReadSourceBounds));
  metrics->AddHistogram("strata_read_sources", "Memtables and index levels one key read consulted",
                        bounds);
  metrics->AddCollector([ctx](Metrics& m) {
    m.Set("strata_store_bytes", {}, static_cast<double>(ctx.versions->StoreBytes()));
    const ReadSourceStats rs = ctx.versions->ReadSources();
    m.SetHistogram("strata_read_sources", {},
                   std::vector<uint64_t>(rs.buckets, rs.buckets + kReadSourceBuckets - 1),
                   static_cast<double>(rs.sum), rs.count);
    if (!ctx.collector) return;
    const CollectorState st = ctx.collector->State();
    m.SetTotal("strata_gc_passes_total", {}, static_cast<double>(st.passes));
    m.SetTotal("strata_gc_freed_bytes_total", {}, static_cast<double>(st.freed_bytes_total));
    m.SetTotal("strata_gc_deleted_layers_total", {}, static_cast<double>(st.deleted_layers_total));
    m.SetTotal("strata_gc_written_layers_total", {}, static_cast<double>(st.written_layers_total));
    auto cat = ctx.catalog->Current();
    for (const BranchInfo* b : cat->LiveBranches()) {
      const std::optional<BranchSpace> sp = ctx.collector->SpaceOf(b->id);
      if (!sp) continue;
      const MetricLabels l = {{"branch", b->name}};
      m.Set("strata_branch_logical_bytes", l, static_cast<double>(sp->logical_bytes));
      m.Set("strata_branch_exclusive_bytes", l, static_cast<double>(sp->exclusive_bytes));
      m.Set("strata_branch_history_bytes", l, static_cast<double>(sp->history_bytes));
    }
  });
}

double Seconds(uint64_t ns) { return static_cast<double>(ns) / 1e9; }

// FUSE requests per opcode from the `fuse` object of the status (see
// FuseStatsJson in daemon/daemon.cc) and CPU time per thread role.
void AddFuseAndCpuMetrics(Metrics* metrics, const ApiContext& ctx) {
  metrics->AddCounter("strata_fuse_requests_total", "FUSE requests answered, per opcode");
  metrics->AddCounter("strata_fuse_errors_total", "FUSE requests answered with an errno");
  metrics->AddCounter("strata_fuse_bytes_total", "Bytes moved by FUSE READ and WRITE requests");
  metrics->AddCounter("strata_process_cpu_seconds_total", "CPU time of the daemon, user + system");
  metrics->AddGauge("strata_thread_cpu_seconds",
                    "CPU time of the daemon's live threads, by thread name (role)");
  metrics->AddCollector([ctx](Metrics& m) {
    const ProcessCpu cpu = ReadProcessCpu();
    m.SetTotal("strata_process_cpu_seconds_total", {}, Seconds(cpu.total_ns));
    for (const auto& [name, ns] : cpu.by_thread_ns) {
      m.Set("strata_thread_cpu_seconds", {{"thread", name}}, Seconds(ns));
    }
    if (!ctx.fuse_stats) return;
    const json fuse = ctx.fuse_stats();
    std::vector<double> bounds;  // declared here: the bounds are the FUSE layer's
    for (const json& us : fuse.at("bounds_us")) bounds.push_back(us.get<double>() / 1e6);
    m.AddHistogram("strata_fuse_request_seconds",
                   "Daemon time per FUSE request, from the callback to its reply", bounds);
    for (const auto& [op, s] : fuse.at("ops").items()) {
      const MetricLabels l = {{"op", op}};
      m.SetTotal("strata_fuse_requests_total", l, s.at("count").get<double>());
      m.SetTotal("strata_fuse_errors_total", l, s.at("errors").get<double>());
      m.SetTotal("strata_fuse_bytes_total", l, s.at("bytes").get<double>());
      auto buckets = s.at("buckets").get<std::vector<uint64_t>>();
      buckets.pop_back();  // the open bucket is the histogram's implicit +Inf
      m.SetHistogram("strata_fuse_request_seconds", l, buckets, s.at("sum_us").get<double>() / 1e6,
                     s.at("count").get<uint64_t>());
    }
  });
}

}  // namespace

json CpuJson(const ProcessCpu& cpu) {
  json threads = json::object();
  for (const auto& [name, ns] : cpu.by_thread_ns) threads[name] = Seconds(ns);
  return {{"total_seconds", Seconds(cpu.total_ns)}, {"threads", threads}};
}

void AddStatusMetrics(Metrics* metrics, const ApiContext& ctx) {
  metrics->AddGauge("strata_branches", "Branches in the catalog");
  metrics->AddGauge("strata_credentials", "Credentials in the catalog");
  metrics->AddGauge("strata_sink_lag_records",
                    "Op-log records acknowledged by the sink but not yet in store layers, summed "
                    "over branches (what a crash would replay)");
  metrics->AddGauge("strata_memtable_bytes", "Bytes in memtables, all branches");
  metrics->AddCollector([ctx](Metrics& m) {
    auto cat = ctx.catalog->Current();
    m.Set("strata_branches", {}, static_cast<double>(cat->branches.size()));
    m.Set("strata_credentials", {}, static_cast<double>(cat->credentials.size()));
    double lag = 0, mem = 0;
    for (const BranchInfo& b : cat->branches) {
      const BranchStats s = ctx.versions->Stats(b.id);
      lag += static_cast<double>(s.acked_seq > s.durable_seq ? s.acked_seq - s.durable_seq : 0);
      mem += static_cast<double>(s.memtable_bytes);
    }
    m.Set("strata_sink_lag_records", {}, lag);
    m.Set("strata_memtable_bytes", {}, mem);
    const CacheStats l1 = ctx.versions->PageCacheStats();
    Flatten(m, "strata_cache_",
            json{{"hits", l1.hits},
                 {"misses", l1.misses},
                 {"bytes", l1.bytes},
                 {"capacity", l1.capacity},
                 {"evictions", l1.evictions}},
            {{"tier", "l1"}}, "Cache tier counters and sizes (docs/cache.md)");
    if (ctx.store_stats) {
      const json tiers = ctx.store_stats();
      for (const auto& [tier, obj] : tiers.items()) {
        Flatten(m, "strata_cache_", obj, {{"tier", tier}},
                "Cache tier counters and sizes (docs/cache.md)");
      }
    }
    if (ctx.sink_stats) {
      Flatten(m, "strata_walsink_", ctx.sink_stats(), {},
              "Shipping of the op log to the walsink server (docs/sink-protocol.md)");
    }
    if (ctx.store_log_stats) {
      Flatten(m, "strata_store_log_", ctx.store_log_stats(), {},
              "The op log's log objects in the store, --sink store (docs/oplog-format.md)");
    }
    if (ctx.proxy_stats) {
      Flatten(m, "strata_proxy_", ctx.proxy_stats(), {}, "Proxy connections (docs/proxy.md)");
    }
  });
  AddGcMetrics(metrics, ctx);
  AddFuseAndCpuMetrics(metrics, ctx);
}

}  // namespace strata
