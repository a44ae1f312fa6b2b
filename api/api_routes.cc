// The routes of the control API (docs/api.md). Each reads a strict JSON body
// (unknown fields are refused: an agent's typo must not pass silently) and
// answers one JSON value.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <optional>

#include "api/api.h"
#include "api/api_request.h"
#include "api/status_metrics.h"
#include "catalog/fork_spec.h"
#include "common/clock.h"

namespace strata {

namespace {

using json = nlohmann::json;

// Owner labels name tenants in logs and metrics: keep them plain.
Status CheckOwner(const std::string& owner) {
  if (IsValidName(owner)) return Status::OK();
  return Status::Invalid("invalid owner '" + owner +
                         "': use 1-63 letters, digits, '-' or '_', not starting with '-'");
}

}  // namespace

json Api::EndpointJson(const EndpointInfo& e) {
  return {{"branch", e.branch},
          {"state", EndpointStateName(e.state)},
          {"pid", e.pid ? json(e.pid) : json(nullptr)},
          {"connections", e.connections},
          {"idle_timeout_seconds", e.idle_timeout_s},
          {"last_active", TimeOrNull(e.last_active_ns)},
          {"started", TimeOrNull(e.started_ns)},
          {"starts", e.starts},
          {"last_start_ms", static_cast<int64_t>(e.last_start_seconds * 1000 + 0.5)},
          {"last_error", e.last_error.empty() ? json(nullptr) : json(e.last_error)}};
}

json Api::BranchJson(const CatalogData& cat, const BranchInfo& b) {
  BranchStats s = ctx_.versions->Stats(b.id);
  const BranchInfo* parent = b.parent ? cat.FindBranchById(b.parent) : nullptr;
  json j = {{"name", b.name},
            {"id", b.id},
            // A retired parent has no name to show (docs/api.md).
            {"parent", parent && !parent->retired ? json(parent->name) : json(nullptr)},
            {"fork_seq", b.fork_seq},
            {"seq", s.head_seq},
            {"durable_seq", s.durable_seq},
            {"durability", DurabilityName(s.durability)},
            // The sink holds seqs up to acked_seq; the store up to durable_seq.
            // lag: records only the sink has (what a crash replays).
            {"acked_seq", s.acked_seq},
            {"lag", s.acked_seq > s.durable_seq ? s.acked_seq - s.durable_seq : 0},
            {"created", FormatRfc3339(b.created_ns)},
            {"memtable_bytes", s.memtable_bytes},
            {"layers", s.layers},
            {"layer_bytes", s.layer_bytes},
            {"owner", b.owner.empty() ? json(nullptr) : json(b.owner)},
            {"expires_at", TimeOrNull(b.expires_ns)}};
  if (ctx_.endpoints) {
    Result<EndpointInfo> e = ctx_.endpoints->Get(b.name);
    if (e.ok()) {
      j["endpoint"] = {{"state", EndpointStateName(e->state)},
                       {"connections", e->connections},
                       {"idle_timeout_seconds", e->idle_timeout_s}};
    }
  }
  AddHistoryJson(b, &j);
  return j;
}

json Api::OwnerJson(const std::string& owner) {
  const OwnerUsage u = ctx_.fleet->Usage(owner);
  const OwnerQuota q = ctx_.fleet->Quota(owner);
  return {{"owner", owner},
          {"branches", u.branches},
          {"bytes", u.bytes},
          {"quota", {{"max_branches", q.max_branches}, {"max_bytes", q.max_bytes}}}};
}

Result<ApiResult> Api::GetStatus(const Params&, const json& body) {
  STRATA_RETURN_IF_ERROR(Fields::Of(body, {}).status());
  auto cat = ctx_.catalog->Current();
  SinkStats sink = ctx_.sink->Stats();
  const CacheStats l1 = ctx_.versions->PageCacheStats();
  json branches = json::array();
  uint64_t mem = 0, layers = 0, layer_bytes = 0;
  for (const BranchInfo& b : cat->branches) {
    json j = BranchJson(*cat, b);
    mem += j["memtable_bytes"].get<uint64_t>();
    layers += j["layers"].get<uint64_t>();
    layer_bytes += j["layer_bytes"].get<uint64_t>();
    // Retired branches count in the totals (they hold data), not in the list.
    if (!b.retired) branches.push_back(std::move(j));
  }
  int running = 0;
  if (ctx_.endpoints) {
    for (const EndpointInfo& e : ctx_.endpoints->List()) {
      running += e.state == EndpointState::kRunning;
    }
  }
  json result = {{"store", ctx_.store->Url()},
                 {"mount", ctx_.mountpoint},
                 {"cache_dir", ctx_.cache_dir},
                 {"pid", getpid()},
                 {"proxy", ctx_.proxy_address.empty() ? json(nullptr) : json(ctx_.proxy_address)},
                 {"api", ctx_.api_address.empty() ? json(nullptr) : json(ctx_.api_address)},
                 {"branches", branches},
                 {"snapshots", cat->snapshots.size()},
                 {"credentials", cat->credentials.size()},
                 {"endpoints_running", running},
                 {"memtable_bytes", mem},
                 {"layer_count", layers},
                 {"layer_bytes", layer_bytes},
                 {"store_bytes", ctx_.versions->StoreBytes()},
                 {"index_bytes", ctx_.versions->index()->ApproximateBytes()},
                 {"oplog_bytes", sink.bytes_on_disk},
                 {"oplog_segments", sink.segments},
                 {"oplog_appended_bytes", sink.appended_bytes},
                 {"oplog_syncs", sink.syncs},
                 {"oplog_sync_waits", sink.sync_waits},
                 {"cache",
                  {{"l1",
                    {{"hits", l1.hits},
                     {"misses", l1.misses},
                     {"bytes", l1.bytes},
                     {"capacity", l1.capacity},
                     {"evictions", l1.evictions}}}}}};
  if (ctx_.store_stats) result["cache"].update(ctx_.store_stats());
  result["walsink"] = ctx_.sink_stats ? ctx_.sink_stats() : json(nullptr);
  result["store_log"] = ctx_.store_log_stats ? ctx_.store_log_stats() : json(nullptr);
  result["proxy_stats"] = ctx_.proxy_stats ? ctx_.proxy_stats() : json(nullptr);
  result["fuse"] = ctx_.fuse_stats ? ctx_.fuse_stats() : json(nullptr);
  result["cpu"] = CpuJson(ReadProcessCpu());
  result["history_default_seconds"] = ctx_.branches->default_history();
  result["gc"] = GcStateJson();
  return Ok(result);
}

constexpr int64_t kMaxListLimit = 1000;  // the largest page

Result<ApiResult> Api::ListBranches(const Params&, const json& args) {
  STRATA_ASSIGN_OR_RETURN(Fields f, Fields::Of(args, {"owner", "limit", "cursor"}));
  STRATA_ASSIGN_OR_RETURN(const std::optional<std::string> owner, f.Str("owner"));
  STRATA_ASSIGN_OR_RETURN(const std::optional<int64_t> limit,
                          f.QueryInt("limit", 1, kMaxListLimit));
  // The cursor is the id of the last branch of the page before (opaque to
  // clients: docs/api.md).
  STRATA_ASSIGN_OR_RETURN(const std::optional<int64_t> after,
                          f.QueryInt("cursor", 0, int64_t{UINT32_MAX}));
  auto cat = ctx_.catalog->Current();
  std::vector<const BranchInfo*> picked;
  for (const BranchInfo* b : cat->LiveBranches()) {
    if ((!owner || b->owner == *owner) && (!after || b->id > *after)) picked.push_back(b);
  }
  if (!limit && !after) {  // the whole list, as before pages existed
    json out = json::array();
    for (const BranchInfo* b : picked) out.push_back(BranchJson(*cat, *b));
    return Ok(out);
  }
  const size_t n =
      std::min<size_t>(picked.size(), static_cast<size_t>(limit.value_or(kMaxListLimit)));
  std::partial_sort(picked.begin(), picked.begin() + static_cast<std::ptrdiff_t>(n), picked.end(),
                    [](const BranchInfo* a, const BranchInfo* b) { return a->id < b->id; });
  json page = json::array();
  for (size_t i = 0; i < n; i++) page.push_back(BranchJson(*cat, *picked[i]));
  const json next = n < picked.size() ? json(std::to_string(picked[n - 1]->id)) : json(nullptr);
  return Ok({{"branches", std::move(page)}, {"next_cursor", next}});
}

namespace {

// The fields of a POST /v1/branches, checked in the order their errors are reported.
Result<CreateRequest> ParseCreateRequest(const json& body, Clock* clock) {
  STRATA_ASSIGN_OR_RETURN(
      Fields f, Fields::Of(body, {"name", "from", "owner", "ttl_seconds", "expires_at",
                                  "idle_timeout_seconds", "durability", "uid", "gid", "initdb",
                                  "history_seconds", "start"}));
  CreateRequest req;
  STRATA_ASSIGN_OR_RETURN(req.name, f.Required("name"));
  STRATA_ASSIGN_OR_RETURN(std::optional<std::string> from, f.Str("from"));
  req.from = from.value_or("");
  STRATA_ASSIGN_OR_RETURN(std::optional<bool> initdb, f.Bool("initdb"));
  req.initdb = initdb.value_or(false);
  STRATA_ASSIGN_OR_RETURN(std::optional<bool> start, f.Bool("start"));
  req.start = start.value_or(false);
  BranchOptions& o = req.options;
  STRATA_ASSIGN_OR_RETURN(std::optional<std::string> owner, f.Str("owner"));
  o.owner = owner.value_or("");
  if (!o.owner.empty()) STRATA_RETURN_IF_ERROR(CheckOwner(o.owner));
  STRATA_ASSIGN_OR_RETURN(std::optional<int64_t> expires, f.Expiry(clock));
  o.expires_ns = expires.value_or(0);
  STRATA_ASSIGN_OR_RETURN(std::optional<int64_t> idle,
                          f.Int("idle_timeout_seconds", 1, kMaxTtlSeconds));
  o.idle_timeout_s = idle.value_or(0);
  STRATA_ASSIGN_OR_RETURN(std::optional<int64_t> uid, f.Int("uid", 0, int64_t{UINT32_MAX} - 1));
  o.uid = static_cast<uint32_t>(uid.value_or(0));
  STRATA_ASSIGN_OR_RETURN(std::optional<int64_t> gid, f.Int("gid", 0, int64_t{UINT32_MAX} - 1));
  o.gid = static_cast<uint32_t>(gid.value_or(0));
  STRATA_ASSIGN_OR_RETURN(o.history_s, f.Int("history_seconds", 0, kMaxHistorySeconds));
  if (req.initdb && (f.Present("uid") || f.Present("gid"))) {
    return Status::Invalid(
        "uid and gid cannot be given with initdb: the cluster belongs to "
        "the postgres user");
  }
  STRATA_ASSIGN_OR_RETURN(std::optional<std::string> durability, f.Str("durability"));
  if (durability) {
    STRATA_ASSIGN_OR_RETURN(o.tier, ParseDurability(*durability));
  }
  return req;
}

}  // namespace

Result<ApiResult> Api::CreateBranch(const Params&, const json& body) {
  STRATA_ASSIGN_OR_RETURN(const CreateRequest req, ParseCreateRequest(body, ctx_.clock));
  const auto started = ctx_.clock->SteadyNow();
  STRATA_ASSIGN_OR_RETURN(const BranchInfo b, ctx_.fleet->CreateBranch(req));
  const int64_t us = MicrosSince(ctx_.clock, started);
  if (ctx_.branch_created) ctx_.branch_created(b.name);
  json j = BranchJson(*ctx_.catalog->Current(), b);
  j["elapsed_us"] = us;
  spdlog::info("created branch {} (id {}) from '{}' at seq {}{} in {} us", b.name, b.id, req.from,
               b.fork_seq, req.initdb ? " with initdb" : "", us);
  return Ok(j, 201);
}

Result<ApiResult> Api::GetBranch(const Params& p, const json& body) {
  STRATA_RETURN_IF_ERROR(Fields::Of(body, {}).status());
  auto cat = ctx_.catalog->Current();
  const BranchInfo* b = cat->FindBranch(p[0]);
  if (!b) return Status::NotFound("no branch named '" + p[0] + "'");
  json j = BranchJson(*cat, *b);
  STRATA_ASSIGN_OR_RETURN(j["holder"], HolderJson(b->id));
  return Ok(j);
}

namespace {

// The fields of a PATCH /v1/branches/{name}, checked in the order their errors are reported.
Result<BranchPatch> ParseBranchPatch(const json& body, Clock* clock) {
  STRATA_ASSIGN_OR_RETURN(Fields f, Fields::Of(body, {"durability", "ttl_seconds", "expires_at",
                                                      "idle_timeout_seconds", "history_seconds"}));
  BranchPatch patch;
  STRATA_ASSIGN_OR_RETURN(std::optional<std::string> durability, f.Str("durability"));
  if (durability) {
    STRATA_ASSIGN_OR_RETURN(patch.tier, ParseDurability(*durability));
  }
  STRATA_ASSIGN_OR_RETURN(patch.expires_ns, f.Expiry(clock));
  if (f.Null("expires_at")) {
    STRATA_ASSIGN_OR_RETURN(std::optional<int64_t> ttl, f.Int("ttl_seconds", 1, kMaxTtlSeconds));
    if (ttl) return Status::Invalid("give ttl_seconds or expires_at, not both");
    patch.expires_ns = 0;  // never expires
  }
  STRATA_ASSIGN_OR_RETURN(patch.idle_timeout_s, f.Int("idle_timeout_seconds", 0, kMaxTtlSeconds));
  if (f.Null("idle_timeout_seconds")) patch.idle_timeout_s = 0;  // the mount's default
  if (f.Present("history_seconds")) {
    // null: the default
    STRATA_ASSIGN_OR_RETURN(patch.history_s, f.Int("history_seconds", 0, kMaxHistorySeconds));
  }
  return patch;
}

}  // namespace

Result<ApiResult> Api::PatchBranch(const Params& p, const json& body) {
  STRATA_ASSIGN_OR_RETURN(const BranchPatch patch, ParseBranchPatch(body, ctx_.clock));
  STRATA_ASSIGN_OR_RETURN(const BranchInfo b, ctx_.branches->UpdateBranch(p[0], patch));
  spdlog::info("branch {}: settings changed: {}", b.name, body.dump());
  return Ok(BranchJson(*ctx_.catalog->Current(), b));
}

Result<ApiResult> Api::DeleteBranch(const Params& p, const json& body) {
  STRATA_RETURN_IF_ERROR(Fields::Of(body, {}).status());
  STRATA_RETURN_IF_ERROR(ctx_.fleet->DeleteBranch(p[0]));
  spdlog::info("deleted branch {}", p[0]);
  return Ok(json::object());
}

Result<ApiResult> Api::ResetBranch(const Params& p, const json& body) {
  STRATA_RETURN_IF_ERROR(Fields::Of(body, {}).status());
  STRATA_ASSIGN_OR_RETURN(const BranchInfo b, ctx_.fleet->ResetBranch(p[0]));
  return Ok(BranchJson(*ctx_.catalog->Current(), b));
}

Result<ApiResult> Api::ListSnapshots(const Params&, const json& body) {
  STRATA_RETURN_IF_ERROR(Fields::Of(body, {}).status());
  auto cat = ctx_.catalog->Current();
  json out = json::array();
  for (const SnapshotInfo& s : cat->snapshots) {
    const BranchInfo* b = cat->FindBranchById(s.branch);
    out.push_back({{"name", s.name},
                   {"branch", b ? json(b->name) : json(nullptr)},
                   {"seq", s.seq},
                   {"created", FormatRfc3339(s.created_ns)}});
  }
  return Ok(out);
}

Result<ApiResult> Api::CreateSnapshot(const Params&, const json& body) {
  STRATA_ASSIGN_OR_RETURN(Fields f, Fields::Of(body, {"branch", "name"}));
  // The name's errors are reported before the branch's.
  STRATA_ASSIGN_OR_RETURN(const std::string name, f.Required("name"));
  STRATA_ASSIGN_OR_RETURN(const std::string branch, f.Required("branch"));
  const auto started = ctx_.clock->SteadyNow();
  STRATA_ASSIGN_OR_RETURN(const SnapshotInfo s, ctx_.branches->CreateSnapshot(branch, name));
  const int64_t us = MicrosSince(ctx_.clock, started);
  return Ok({{"name", s.name},
             {"branch", branch},
             {"seq", s.seq},
             {"created", FormatRfc3339(s.created_ns)},
             {"elapsed_us", us}},
            201);
}

Result<ApiResult> Api::DeleteSnapshot(const Params& p, const json& body) {
  STRATA_RETURN_IF_ERROR(Fields::Of(body, {}).status());
  STRATA_RETURN_IF_ERROR(ctx_.branches->DeleteSnapshot(p[0]));
  return Ok(json::object());
}

Result<ApiResult> Api::GetEndpoint(const Params& p, const json& body) {
  STRATA_RETURN_IF_ERROR(Fields::Of(body, {}).status());
  STRATA_ASSIGN_OR_RETURN(const EndpointInfo e, ctx_.endpoints->Get(p[0]));
  return Ok(EndpointJson(e));
}

Result<ApiResult> Api::StartEndpoint(const Params& p, const json& body) {
  STRATA_RETURN_IF_ERROR(Fields::Of(body, {}).status());
  STRATA_ASSIGN_OR_RETURN(const EndpointInfo e, ctx_.endpoints->Start(p[0]));
  return Ok(EndpointJson(e));
}

Result<ApiResult> Api::SuspendEndpoint(const Params& p, const json& body) {
  STRATA_RETURN_IF_ERROR(Fields::Of(body, {}).status());
  STRATA_ASSIGN_OR_RETURN(const EndpointInfo e, ctx_.endpoints->Suspend(p[0]));
  return Ok(EndpointJson(e));
}

Result<ApiResult> Api::ListEndpoints(const Params&, const json& body) {
  STRATA_RETURN_IF_ERROR(Fields::Of(body, {}).status());
  json out = json::array();
  for (const EndpointInfo& e : ctx_.endpoints->List()) out.push_back(EndpointJson(e));
  return Ok(out);
}

Result<ApiResult> Api::SuspendAllEndpoints(const Params&, const json& body) {
  STRATA_RETURN_IF_ERROR(Fields::Of(body, {}).status());
  return Ok({{"suspended", ctx_.endpoints->SuspendAll()}});
}

Result<ApiResult> Api::ListCredentials(const Params& p, const json& body) {
  STRATA_RETURN_IF_ERROR(Fields::Of(body, {}).status());
  auto cat = ctx_.catalog->Current();
  const BranchInfo* b = cat->FindBranch(p[0]);
  if (!b) return Status::NotFound("no branch named '" + p[0] + "'");
  json out = json::array();
  for (const CredentialInfo& c : cat->credentials) {
    if (c.branch != b->id) continue;
    out.push_back({{"id", c.id},
                   {"user", c.id},
                   {"branch", b->name},
                   {"role", c.role},
                   {"created", FormatRfc3339(c.created_ns)},
                   {"expires_at", TimeOrNull(c.expires_ns)}});
  }
  return Ok(out);
}

Result<ApiResult> Api::IssueCredential(const Params& p, const json& body) {
  STRATA_ASSIGN_OR_RETURN(Fields f, Fields::Of(body, {"role", "ttl_seconds", "expires_at"}));
  STRATA_ASSIGN_OR_RETURN(std::optional<std::string> role_field, f.Str("role"));
  const std::string role = role_field.value_or("postgres");
  STRATA_ASSIGN_OR_RETURN(std::optional<int64_t> expiry, f.Expiry(ctx_.clock));
  const int64_t expires =
      expiry.value_or(ctx_.clock->NowNs() + ctx_.credential_ttl_s * 1'000'000'000);
  STRATA_ASSIGN_OR_RETURN(const IssuedCredential c, ctx_.credentials->Issue(p[0], role, expires));
  spdlog::info("issued credential {} for branch {} as role {} (expires {})", c.info.id, p[0], role,
               FormatRfc3339(expires));
  json j = {{"id", c.info.id},
            {"user", c.info.id},
            {"password", c.password},
            {"branch", p[0]},
            {"role", role},
            {"created", FormatRfc3339(c.info.created_ns)},
            {"expires_at", TimeOrNull(c.info.expires_ns)}};
  if (!ctx_.proxy_address.empty()) {
    j["uri"] =
        "postgresql://" + c.info.id + ":" + c.password + "@" + ctx_.proxy_address + "/" + p[0];
  }
  return Ok(j, 201);
}

Result<ApiResult> Api::RevokeCredential(const Params& p, const json& body) {
  STRATA_RETURN_IF_ERROR(Fields::Of(body, {}).status());
  STRATA_RETURN_IF_ERROR(ctx_.credentials->Revoke(p[0]));
  spdlog::info("revoked credential {}", p[0]);
  return Ok(json::object());
}

Result<ApiResult> Api::GetOwner(const Params& p, const json& body) {
  STRATA_RETURN_IF_ERROR(Fields::Of(body, {}).status());
  STRATA_RETURN_IF_ERROR(CheckOwner(p[0]));
  return Ok(OwnerJson(p[0]));
}

Result<ApiResult> Api::SetQuota(const Params& p, const json& body) {
  STRATA_ASSIGN_OR_RETURN(Fields f, Fields::Of(body, {"max_branches", "max_bytes"}));
  STRATA_RETURN_IF_ERROR(CheckOwner(p[0]));
  OwnerQuota q = ctx_.fleet->Quota(p[0]);
  if (f.Present("max_branches")) {
    STRATA_ASSIGN_OR_RETURN(std::optional<int64_t> n, f.Int("max_branches", -1, INT64_MAX));
    q.max_branches = n.value_or(-1);
  }
  if (f.Present("max_bytes")) {
    STRATA_ASSIGN_OR_RETURN(std::optional<int64_t> n, f.Int("max_bytes", -1, INT64_MAX));
    q.max_bytes = n.value_or(-1);
  }
  STRATA_RETURN_IF_ERROR(ctx_.fleet->SetQuota(p[0], q));
  spdlog::info("owner {}: quota now {} branches, {} bytes", p[0], q.max_branches, q.max_bytes);
  return Ok(OwnerJson(p[0]));
}

}  // namespace strata
