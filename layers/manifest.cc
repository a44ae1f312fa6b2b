#include "layers/manifest.h"

#include <cinttypes>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace strata {

namespace {

std::string ManifestPrefix(uint32_t branch) { return BranchObjectPrefix(branch) + "manifest/"; }

std::string ManifestKey(uint32_t branch, uint64_t version) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%020" PRIu64 ".json", version);
  return ManifestPrefix(branch) + buf;
}

constexpr int kFormat = 2;  // 2: layer kinds and the history floor

Result<LayerKind> ParseLayerKind(const std::string& s, const std::string& name) {
  for (LayerKind k : {LayerKind::kDelta, LayerKind::kCompacted, LayerKind::kDetach}) {
    if (s == LayerKindName(k)) return k;
  }
  return Status::Corruption("manifest " + name + ": unknown layer kind '" + s + "'");
}

}  // namespace

const char* LayerKindName(LayerKind k) {
  switch (k) {
    case LayerKind::kDelta:
      return "delta";
    case LayerKind::kCompacted:
      return "compacted";
    case LayerKind::kDetach:
      return "detach";
  }
  return "?";
}

std::string BranchObjectPrefix(uint32_t branch) {
  return "branches/" + std::to_string(branch) + "/";
}

std::string LayerObjectKey(uint32_t branch, uint32_t layer_no) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%010u.layer", layer_no);
  return BranchObjectPrefix(branch) + "layers/" + buf;
}

std::string EncodeManifest(const Manifest& m) {
  nlohmann::json j;
  j["format"] = kFormat;
  j["branch"] = m.branch;
  j["version"] = m.version;
  j["durable_seq"] = m.durable_seq;
  j["next_counter"] = m.next_counter;
  j["last_time_ns"] = m.last_time_ns;
  j["next_layer_no"] = m.next_layer_no;
  j["history_floor"] = m.history_floor;
  j["history_floor_ns"] = m.history_floor_ns;
  if (m.epoch != 0) j["epoch"] = m.epoch;
  j["layers"] = nlohmann::json::array();
  for (const LayerMeta& l : m.layers) {
    j["layers"].push_back({{"no", l.no},
                           {"min_seq", l.min_seq},
                           {"max_seq", l.max_seq},
                           {"min_time_ns", l.min_time_ns},
                           {"max_time_ns", l.max_time_ns},
                           {"bytes", l.bytes},
                           {"entries", l.entries},
                           {"kind", LayerKindName(l.kind)}});
  }
  return j.dump();
}

Result<Manifest> DecodeManifest(const std::string& data, const std::string& name) {
  try {
    nlohmann::json j = nlohmann::json::parse(data);
    // Format 1 (no kinds, no floor) reads as all-delta with full history.
    const int format = j.at("format").get<int>();
    if (format < 1 || format > kFormat) {
      return Status::Corruption("manifest " + name + ": format " + std::to_string(format) +
                                " is not one this strata reads (1.." + std::to_string(kFormat) +
                                "); a newer strata wrote it");
    }
    Manifest m;
    m.branch = j.at("branch").get<uint32_t>();
    m.version = j.at("version").get<uint64_t>();
    m.durable_seq = j.at("durable_seq").get<uint64_t>();
    m.next_counter = j.at("next_counter").get<uint64_t>();
    m.last_time_ns = j.at("last_time_ns").get<uint64_t>();
    m.next_layer_no = j.at("next_layer_no").get<uint32_t>();
    m.history_floor = j.value("history_floor", uint64_t{0});
    m.history_floor_ns = j.value("history_floor_ns", uint64_t{0});
    m.epoch = j.value("epoch", uint64_t{0});
    for (const auto& l : j.at("layers")) {
      LayerMeta meta{l.at("no").get<uint32_t>(),          l.at("min_seq").get<uint64_t>(),
                     l.at("max_seq").get<uint64_t>(),     l.at("min_time_ns").get<uint64_t>(),
                     l.at("max_time_ns").get<uint64_t>(), l.at("bytes").get<uint64_t>(),
                     l.at("entries").get<uint64_t>()};
      STRATA_ASSIGN_OR_RETURN(meta.kind, ParseLayerKind(l.value("kind", "delta"), name));
      m.layers.push_back(meta);
    }
    return m;
  } catch (const std::exception& e) {
    return Status::Corruption("manifest " + name + ": " + e.what());
  }
}

Result<Manifest> LoadManifest(ObjectStore* store, uint32_t branch) {
  STRATA_ASSIGN_OR_RETURN(std::vector<std::string> keys, store->List(ManifestPrefix(branch)));
  // Only the newest counts: an older one may predate an op-log trim, so falling
  // back to it would silently lose ops. A bad newest manifest is an error.
  if (!keys.empty()) {
    STRATA_ASSIGN_OR_RETURN(std::string data, store->Get(keys.back()));
    STRATA_ASSIGN_OR_RETURN(Manifest m, DecodeManifest(data, keys.back()));
    if (m.branch != branch) {
      return Status::Corruption("manifest " + keys.back() + ": names branch " +
                                std::to_string(m.branch));
    }
    return m;
  }
  Manifest empty;
  empty.branch = branch;
  return empty;
}

Status StoreManifest(ObjectStore* store, const Manifest& m) {
  STRATA_RETURN_IF_ERROR(store->PutIfAbsent(ManifestKey(m.branch, m.version), EncodeManifest(m)));
  if (m.version > 2) store->Delete(ManifestKey(m.branch, m.version - 2)).PermitUnchecked();
  return Status::OK();
}

}  // namespace strata
