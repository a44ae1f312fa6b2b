#include "catalog/catalog_codec.h"

#include <nlohmann/json.hpp>

namespace strata {

namespace {

using json = nlohmann::json;

constexpr int kWholeFormat = 1;
constexpr int kDeltaFormat = 2;

json ToJson(const BranchInfo& b) {
  json j = {{"id", b.id},
            {"name", b.name},
            {"parent", b.parent},
            {"fork_seq", b.fork_seq},
            {"root_ino", b.root_ino},
            {"created_ns", b.created_ns}};
  if (b.durability) j["durability"] = DurabilityName(*b.durability);
  if (!b.owner.empty()) j["owner"] = b.owner;
  if (b.expires_ns) j["expires_ns"] = b.expires_ns;
  if (b.idle_timeout_s) j["idle_timeout_s"] = b.idle_timeout_s;
  if (b.history_s) j["history_s"] = *b.history_s;
  if (!b.detached_from.empty()) j["detached_from"] = b.detached_from;
  if (b.retired) j["retired"] = true;
  return j;
}

json ToJson(const SnapshotInfo& s) {
  return {{"name", s.name}, {"branch", s.branch}, {"seq", s.seq}, {"created_ns", s.created_ns}};
}

json ToJson(const CredentialInfo& c) {
  return {{"id", c.id},
          {"branch", c.branch},
          {"role", c.role},
          {"verifier", c.verifier},
          {"created_ns", c.created_ns},
          {"expires_ns", c.expires_ns}};
}

json ToJson(const OwnerQuota& q) {
  return {{"max_branches", q.max_branches}, {"max_bytes", q.max_bytes}};
}

json ToJson(const TokenInfo& t) {
  return {{"id", t.id},
          {"owner", t.owner},
          {"secret_sha256", t.secret_sha256},
          {"created_ns", t.created_ns},
          {"expires_ns", t.expires_ns},
          {"revoked_ns", t.revoked_ns}};
}

// The From* functions throw nlohmann's exceptions on a missing or mistyped
// member; the decoders turn them into kCorruption.
BranchInfo BranchFrom(const json& j) {
  BranchInfo b;
  b.id = j.at("id").get<uint32_t>();
  b.name = j.at("name").get<std::string>();
  b.parent = j.at("parent").get<uint32_t>();
  b.fork_seq = j.at("fork_seq").get<uint64_t>();
  b.root_ino = j.at("root_ino").get<uint64_t>();
  b.created_ns = j.at("created_ns").get<int64_t>();
  if (j.contains("durability")) {
    Result<Durability> d = ParseDurability(j.at("durability").get<std::string>());
    if (!d.ok()) throw std::invalid_argument(d.status().message());
    b.durability = *d;
  }
  b.owner = j.value("owner", "");
  b.expires_ns = j.value("expires_ns", int64_t{0});
  b.idle_timeout_s = j.value("idle_timeout_s", int64_t{0});
  if (j.contains("history_s")) b.history_s = j.at("history_s").get<int64_t>();
  b.detached_from = j.value("detached_from", "");
  b.retired = j.value("retired", false);
  return b;
}

SnapshotInfo SnapshotFrom(const json& j) {
  return {j.at("name").get<std::string>(), j.at("branch").get<uint32_t>(),
          j.at("seq").get<uint64_t>(), j.at("created_ns").get<int64_t>()};
}

CredentialInfo CredentialFrom(const json& j) {
  return {j.at("id").get<std::string>(),     j.at("branch").get<uint32_t>(),
          j.at("role").get<std::string>(),   j.at("verifier").get<std::string>(),
          j.at("created_ns").get<int64_t>(), j.at("expires_ns").get<int64_t>()};
}

OwnerQuota QuotaFrom(const json& j) {
  return {j.at("max_branches").get<int64_t>(), j.at("max_bytes").get<int64_t>()};
}

TokenInfo TokenFrom(const json& j) {
  return {j.at("id").get<std::string>(),
          j.at("owner").get<std::string>(),
          j.at("secret_sha256").get<std::string>(),
          j.at("created_ns").get<int64_t>(),
          j.at("expires_ns").get<int64_t>(),
          j.at("revoked_ns").get<int64_t>()};
}

template <typename T>
json ArrayOf(const std::vector<T>& v) {
  json a = json::array();
  for (const T& e : v) a.push_back(ToJson(e));
  return a;
}

template <typename T, typename From>
std::vector<T> VectorOf(const json& a, From from) {
  std::vector<T> v;
  v.reserve(a.size());
  for (const json& e : a) v.push_back(from(e));
  return v;
}

// A delta's section: {"put": [...], "delete": [keys]}, left out when empty.
template <typename T, typename K>
void PutSection(const char* name, const std::vector<T>& puts, const std::vector<K>& dels, json* j) {
  if (puts.empty() && dels.empty()) return;
  json s = json::object();
  if (!puts.empty()) s["put"] = ArrayOf(puts);
  if (!dels.empty()) s["delete"] = dels;
  (*j)[name] = std::move(s);
}

template <typename T, typename K, typename From>
void GetSection(const json& j, const char* name, From from, std::vector<T>* puts,
                std::vector<K>* dels) {
  if (!j.contains(name)) return;
  const json& s = j.at(name);
  if (s.contains("put")) *puts = VectorOf<T>(s.at("put"), from);
  if (s.contains("delete")) *dels = s.at("delete").get<std::vector<K>>();
}

CatalogData WholeFrom(const json& j) {
  CatalogData c;
  c.version = j.at("version").get<uint64_t>();
  c.next_branch_id = j.at("next_branch_id").get<uint32_t>();
  c.branches = VectorOf<BranchInfo>(j.at("branches"), BranchFrom);
  c.snapshots = VectorOf<SnapshotInfo>(j.at("snapshots"), SnapshotFrom);
  if (j.contains("credentials")) {
    c.credentials = VectorOf<CredentialInfo>(j.at("credentials"), CredentialFrom);
  }
  if (j.contains("quotas")) {
    for (const auto& [owner, q] : j.at("quotas").items()) c.quotas[owner] = QuotaFrom(q);
  }
  if (j.contains("tokens")) c.tokens = VectorOf<TokenInfo>(j.at("tokens"), TokenFrom);
  return c;
}

CatalogDelta DeltaFrom(const json& j) {
  CatalogDelta d;
  d.version = j.at("version").get<uint64_t>();
  d.checkpoint = j.at("checkpoint").get<uint64_t>();
  d.next_branch_id = j.at("next_branch_id").get<uint32_t>();
  GetSection(j, "branches", BranchFrom, &d.put_branches, &d.del_branches);
  GetSection(j, "snapshots", SnapshotFrom, &d.put_snapshots, &d.del_snapshots);
  GetSection(j, "credentials", CredentialFrom, &d.put_credentials, &d.del_credentials);
  GetSection(j, "tokens", TokenFrom, &d.put_tokens, &d.del_tokens);
  if (j.contains("quotas")) {
    const json& s = j.at("quotas");
    if (s.contains("put")) {
      for (const auto& [owner, q] : s.at("put").items()) d.put_quotas[owner] = QuotaFrom(q);
    }
    if (s.contains("delete")) d.del_quotas = s.at("delete").get<std::vector<std::string>>();
  }
  if (d.checkpoint == 0 || d.checkpoint >= d.version) {
    throw std::invalid_argument("a delta must come after its checkpoint");
  }
  return d;
}

}  // namespace

std::string EncodeCatalog(const CatalogData& c) {
  json j;
  j["format"] = kWholeFormat;
  j["version"] = c.version;
  j["next_branch_id"] = c.next_branch_id;
  j["branches"] = ArrayOf(c.branches);
  j["snapshots"] = ArrayOf(c.snapshots);
  if (!c.credentials.empty()) j["credentials"] = ArrayOf(c.credentials);
  if (!c.quotas.empty()) {
    j["quotas"] = json::object();
    for (const auto& [owner, q] : c.quotas) j["quotas"][owner] = ToJson(q);
  }
  if (!c.tokens.empty()) j["tokens"] = ArrayOf(c.tokens);
  return j.dump(1);
}

std::string EncodeCatalogDelta(const CatalogDelta& d) {
  json j;
  j["format"] = kDeltaFormat;
  j["version"] = d.version;
  j["checkpoint"] = d.checkpoint;
  j["next_branch_id"] = d.next_branch_id;
  PutSection("branches", d.put_branches, d.del_branches, &j);
  PutSection("snapshots", d.put_snapshots, d.del_snapshots, &j);
  PutSection("credentials", d.put_credentials, d.del_credentials, &j);
  if (!d.put_quotas.empty() || !d.del_quotas.empty()) {
    json s = json::object();
    if (!d.put_quotas.empty()) {
      s["put"] = json::object();
      for (const auto& [owner, q] : d.put_quotas) s["put"][owner] = ToJson(q);
    }
    if (!d.del_quotas.empty()) s["delete"] = d.del_quotas;
    j["quotas"] = std::move(s);
  }
  PutSection("tokens", d.put_tokens, d.del_tokens, &j);
  return j.dump(1);
}

Result<CatalogObject> DecodeCatalogObject(const std::string& data, const std::string& name) {
  try {
    const json j = json::parse(data);
    const int format = j.at("format").get<int>();
    CatalogObject o;
    if (format == kWholeFormat) {
      o.whole = WholeFrom(j);
    } else if (format == kDeltaFormat) {
      o.delta = DeltaFrom(j);
    } else {
      return Status::Corruption("catalog " + name + ": unsupported format " +
                                std::to_string(format));
    }
    return o;
  } catch (const std::exception& e) {
    return Status::Corruption("catalog " + name + ": " + e.what());
  }
}

Result<CatalogData> DecodeCatalog(const std::string& data, const std::string& name) {
  STRATA_ASSIGN_OR_RETURN(CatalogObject o, DecodeCatalogObject(data, name));
  if (!o.whole) {
    return Status::Corruption("catalog " + name + ": a delta, not a whole catalog");
  }
  return std::move(*o.whole);
}

}  // namespace strata
