// The compaction, GC and detach routes, and the history and space fields of
// branch objects (docs/api.md, "Compaction and GC").
#include <spdlog/spdlog.h>

#include <chrono>
#include <optional>

#include "api/api.h"
#include "api/api_request.h"

namespace strata {

namespace {

using json = nlohmann::json;

json ReportJson(const GcReport& r) {
  return {{"branches", r.branches},
          {"layers_before", r.layers_before},
          {"layers_after", r.layers_after},
          {"bytes_before", r.bytes_before},
          {"bytes_after", r.bytes_after},
          {"freed_bytes", r.freed_bytes},
          {"rewritten_bytes", r.rewritten_bytes},
          {"deleted_layers", r.deleted_layers},
          {"written_layers", r.written_layers},
          {"leaked_objects_deleted", r.leaked_objects_deleted},
          {"elapsed_ms", r.elapsed_ms}};
}

json OrNull(const std::optional<BranchSpace>& sp, uint64_t BranchSpace::*field) {
  return sp ? json((*sp).*field) : json(nullptr);
}

}  // namespace

void Api::AddHistoryJson(const BranchInfo& b, json* j) {
  (*j)["history_seconds"] = ctx_.branches->HistoryOf(b);
  (*j)["history_default"] = !b.history_s.has_value();
  Result<std::optional<TimePoint>> oldest = ctx_.branches->OldestPointOf(b);
  (*j)["oldest_point"] = nullptr;
  if (oldest.ok() && *oldest) {
    (*j)["oldest_point"] = {{"seq", (*oldest)->seq},
                            {"time", FormatRfc3339(static_cast<int64_t>((*oldest)->time_ns))}};
  }
  const std::optional<BranchSpace> sp =
      ctx_.collector ? ctx_.collector->SpaceOf(b.id) : std::nullopt;
  (*j)["logical_bytes"] = OrNull(sp, &BranchSpace::logical_bytes);
  (*j)["exclusive_bytes"] = OrNull(sp, &BranchSpace::exclusive_bytes);
  (*j)["history_bytes"] = OrNull(sp, &BranchSpace::history_bytes);
  (*j)["space_as_of"] = sp ? TimeOrNull(sp->as_of_ns) : json(nullptr);
  (*j)["detached_from"] = b.detached_from.empty() ? json(nullptr) : json(b.detached_from);
}

json Api::GcStateJson() {
  if (!ctx_.collector) return nullptr;
  const CollectorState s = ctx_.collector->State();
  json running = nullptr;
  if (s.running) {
    running = {{"branch", s.running->branch.empty() ? json(nullptr) : json(s.running->branch)},
               {"done", s.running->done},
               {"total", s.running->total}};
  }
  json last = nullptr;
  if (s.last_pass) {
    last = ReportJson(*s.last_pass);
    last["finished"] = FormatRfc3339(s.last_pass->finished_ns);
  }
  return {{"enabled", s.background},
          {"interval_ms", s.interval_ms},
          {"rate_bytes_per_second", s.rate_bytes},
          {"passes", s.passes},
          {"freed_bytes_total", s.freed_bytes_total},
          {"running", running},
          {"last_pass", last}};
}

ApiResult Api::DetachBranch(const Params& p, const json& body) {
  Fields f(body, {});
  const auto started = std::chrono::steady_clock::now();
  Result<BranchInfo> b = ctx_.branches->DetachBranch(p[0]);
  if (!b.ok()) return Err(b.status());
  json j = BranchJson(*ctx_.catalog->Current(), *b);
  j["elapsed_us"] = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();
  return Ok(j);
}

ApiResult Api::RunGc(const Params&, const json& body) {
  Fields f(body, {"branch"});
  if (!ctx_.collector) return Err(Status::Unavailable("this daemon has no collector"));
  const std::string branch = f.Str("branch").value_or("");
  Result<GcReport> r = ctx_.collector->RunNow(branch);
  if (!r.ok()) return Err(r.status());
  spdlog::info("gc{}: freed {} bytes, layers {} -> {}, {} leaked objects deleted, {} ms",
               branch.empty() ? "" : " of " + branch, r->freed_bytes, r->layers_before,
               r->layers_after, r->leaked_objects_deleted, r->elapsed_ms);
  return Ok(ReportJson(*r));
}

ApiResult Api::GetGc(const Params&, const json& body) {
  Fields f(body, {});
  if (!ctx_.collector) return Err(Status::Unavailable("this daemon has no collector"));
  return Ok(GcStateJson());
}

}  // namespace strata
