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

Result<ApiResult> Api::DetachBranch(const Params& p, const json& body) {
  STRATA_RETURN_IF_ERROR(Fields::Of(body, {}).status());
  const auto started = ctx_.clock->SteadyNow();
  STRATA_ASSIGN_OR_RETURN(const BranchInfo b, ctx_.branches->DetachBranch(p[0]));
  json j = BranchJson(*ctx_.catalog->Current(), b);
  j["elapsed_us"] = MicrosSince(ctx_.clock, started);
  return Ok(j);
}

Result<ApiResult> Api::RunGc(const Params&, const json& body) {
  STRATA_ASSIGN_OR_RETURN(Fields f, Fields::Of(body, {"branch"}));
  if (!ctx_.collector) return Status::Unavailable("this daemon has no collector");
  STRATA_ASSIGN_OR_RETURN(std::optional<std::string> branch_field, f.Str("branch"));
  const std::string branch = branch_field.value_or("");
  STRATA_ASSIGN_OR_RETURN(const GcReport r, ctx_.collector->RunNow(branch));
  spdlog::info("gc{}: freed {} bytes, layers {} -> {}, {} leaked objects deleted, {} ms",
               branch.empty() ? "" : " of " + branch, r.freed_bytes, r.layers_before,
               r.layers_after, r.leaked_objects_deleted, r.elapsed_ms);
  return Ok(ReportJson(r));
}

Result<ApiResult> Api::GetGc(const Params&, const json& body) {
  STRATA_RETURN_IF_ERROR(Fields::Of(body, {}).status());
  if (!ctx_.collector) return Status::Unavailable("this daemon has no collector");
  return Ok(GcStateJson());
}

}  // namespace strata
