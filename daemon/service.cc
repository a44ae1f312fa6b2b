#include "daemon/service.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "snapshot/fork_spec.h"

namespace strata {

namespace {

using json = nlohmann::json;

const char* CodeName(Code c) {
  switch (c) {
    case Code::kNotFound:
      return "not_found";
    case Code::kExists:
      return "exists";
    case Code::kInvalid:
    case Code::kTooBig:
      return "invalid";
    case Code::kBusy:
      return "busy";
    case Code::kCorruption:
      return "corruption";
    case Code::kUnavailable:
      return "unavailable";
    case Code::kPermission:
    case Code::kReadOnly:
      return "permission";
    case Code::kNotEmpty:
      return "not_empty";
    case Code::kNoSpace:
      return "no_space";
    default:
      return "io";
  }
}

json Error(const Status& st) {
  return {{"ok", false}, {"code", CodeName(st.code())}, {"error", st.message()}};
}

json BranchJson(const CatalogData& cat, const BranchInfo& b, VersionStore* vs) {
  BranchStats s = vs->Stats(b.id);
  const BranchInfo* parent = b.parent ? cat.FindBranchById(b.parent) : nullptr;
  return {{"name", b.name},
          {"id", b.id},
          {"parent", parent ? json(parent->name) : json(nullptr)},
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
          {"layer_bytes", s.layer_bytes}};
}

json SnapshotJson(const CatalogData& cat, const SnapshotInfo& s) {
  const BranchInfo* b = cat.FindBranchById(s.branch);
  return {{"name", s.name},
          {"branch", b ? json(b->name) : json(nullptr)},
          {"seq", s.seq},
          {"created", FormatRfc3339(s.created_ns)}};
}

std::string Str(const json& req, const char* field) {
  auto it = req.find(field);
  if (it == req.end() || !it->is_string()) {
    throw std::invalid_argument(std::string("missing string field '") + field + "'");
  }
  return it->get<std::string>();
}

// An optional uid/gid field: an integer in [0, 2^32 - 2] (2^32 - 1 is -1).
uint32_t Id(const json& req, const char* field) {
  auto it = req.find(field);
  if (it == req.end() || it->is_null()) return 0;
  if (!it->is_number_integer() || it->get<int64_t>() < 0 ||
      it->get<int64_t>() >= int64_t{UINT32_MAX}) {
    throw std::invalid_argument(std::string("field '") + field +
                                "' must be an integer from 0 to 4294967294");
  }
  return static_cast<uint32_t>(it->get<int64_t>());
}

}  // namespace

std::string Service::Handle(const std::string& line) {
  json req;
  try {
    req = json::parse(line);
    if (!req.is_object()) throw std::invalid_argument("request is not a JSON object");
  } catch (const std::exception& e) {
    return Error(Status::Invalid(std::string("malformed request: ") + e.what())).dump();
  }
  try {
    const std::string op = Str(req, "op");
    auto started = std::chrono::steady_clock::now();
    auto elapsed_us = [&] {
      return std::chrono::duration_cast<std::chrono::microseconds>(
                 std::chrono::steady_clock::now() - started)
          .count();
    };
    json result;
    if (op == "status") {
      auto cat = ctx_.catalog->Current();
      SinkStats sink = ctx_.sink->Stats();
      const CacheStats l1 = ctx_.versions->PageCacheStats();
      json branches = json::array();
      uint64_t mem = 0, layers = 0, layer_bytes = 0;
      for (const BranchInfo& b : cat->branches) {
        json j = BranchJson(*cat, b, ctx_.versions);
        mem += j["memtable_bytes"].get<uint64_t>();
        layers += j["layers"].get<uint64_t>();
        layer_bytes += j["layer_bytes"].get<uint64_t>();
        branches.push_back(std::move(j));
      }
      result = {{"store", ctx_.store->Url()},
                {"mount", ctx_.mountpoint},
                {"cache_dir", ctx_.cache_dir},
                {"pid", getpid()},
                {"branches", branches},
                {"snapshots", cat->snapshots.size()},
                {"memtable_bytes", mem},
                {"layer_count", layers},
                {"layer_bytes", layer_bytes},
                {"store_bytes", layer_bytes},
                {"index_bytes", ctx_.versions->index()->ApproximateBytes()},
                {"oplog_bytes", sink.bytes_on_disk},
                {"oplog_segments", sink.segments},
                {"oplog_syncs", sink.syncs},
                {"cache",
                 {{"l1",
                   {{"hits", l1.hits},
                    {"misses", l1.misses},
                    {"bytes", l1.bytes},
                    {"capacity", l1.capacity},
                    {"evictions", l1.evictions}}}}},
                {"oplog_sync_waits", sink.sync_waits}};
      if (ctx_.store_stats) result["cache"].update(ctx_.store_stats());
      result["walsink"] = ctx_.sink_stats ? ctx_.sink_stats() : json(nullptr);
    } else if (op == "branch_create") {
      std::string from;
      if (req.contains("from") && !req["from"].is_null()) from = Str(req, "from");
      const uint32_t uid = Id(req, "uid"), gid = Id(req, "gid");
      std::optional<Durability> tier;
      if (req.contains("durability") && !req["durability"].is_null()) {
        Result<Durability> d = ParseDurability(Str(req, "durability"));
        if (!d.ok()) return Error(d.status()).dump();
        tier = *d;
      }
      Result<BranchInfo> b = ctx_.branches->CreateBranch(Str(req, "name"), from, uid, gid, tier);
      if (!b.ok()) return Error(b.status()).dump();
      result = BranchJson(*ctx_.catalog->Current(), *b, ctx_.versions);
      result["elapsed_us"] = elapsed_us();
      spdlog::info("created branch {} (id {}) from '{}' at seq {} in {} us", b->name, b->id, from,
                   b->fork_seq, result["elapsed_us"].get<int64_t>());
    } else if (op == "branch_list") {
      auto cat = ctx_.catalog->Current();
      result = json::array();
      for (const BranchInfo& b : cat->branches)
        result.push_back(BranchJson(*cat, b, ctx_.versions));
    } else if (op == "branch_delete") {
      Status st = ctx_.branches->DeleteBranch(Str(req, "name"));
      if (!st.ok()) return Error(st).dump();
      result = json::object();
    } else if (op == "branch_set") {
      Result<Durability> d = ParseDurability(Str(req, "durability"));
      if (!d.ok()) return Error(d.status()).dump();
      Result<BranchInfo> b = ctx_.branches->SetDurability(Str(req, "name"), *d);
      if (!b.ok()) return Error(b.status()).dump();
      result = BranchJson(*ctx_.catalog->Current(), *b, ctx_.versions);
      spdlog::info("branch {}: durability is now {}", b->name, DurabilityName(*d));
    } else if (op == "branch_reset") {
      Result<BranchInfo> b = ctx_.branches->ResetBranch(Str(req, "name"));
      if (!b.ok()) return Error(b.status()).dump();
      result = BranchJson(*ctx_.catalog->Current(), *b, ctx_.versions);
    } else if (op == "snapshot_create") {
      Result<SnapshotInfo> s = ctx_.branches->CreateSnapshot(Str(req, "branch"), Str(req, "name"));
      if (!s.ok()) return Error(s.status()).dump();
      result = SnapshotJson(*ctx_.catalog->Current(), *s);
      result["elapsed_us"] = elapsed_us();
    } else if (op == "snapshot_list") {
      auto cat = ctx_.catalog->Current();
      result = json::array();
      for (const SnapshotInfo& s : cat->snapshots) result.push_back(SnapshotJson(*cat, s));
    } else if (op == "snapshot_delete") {
      Status st = ctx_.branches->DeleteSnapshot(Str(req, "name"));
      if (!st.ok()) return Error(st).dump();
      result = json::object();
    } else {
      return Error(Status::Invalid("unknown op '" + op + "'")).dump();
    }
    return json{{"ok", true}, {"result", result}}.dump();
  } catch (const std::invalid_argument& e) {
    return Error(Status::Invalid(e.what())).dump();
  } catch (const json::exception& e) {
    return Error(Status::Invalid(std::string("malformed request: ") + e.what())).dump();
  } catch (const std::exception& e) {
    return Error(Status::IO(std::string("internal error: ") + e.what())).dump();
  }
}

}  // namespace strata
