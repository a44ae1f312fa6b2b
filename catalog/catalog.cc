#include "catalog/catalog.h"

#include <cinttypes>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace strata {

namespace {
constexpr char kCatalogPrefix[] = "catalog/";

std::string CatalogKey(uint64_t version) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "catalog/%020" PRIu64 ".json", version);
  return buf;
}
}  // namespace

const BranchInfo* CatalogData::FindBranch(const std::string& name) const {
  for (const auto& b : branches) {
    if (b.name == name && !b.retired) return &b;
  }
  return nullptr;
}

const BranchInfo* CatalogData::FindBranchById(uint32_t id) const {
  for (const auto& b : branches) {
    if (b.id == id) return &b;
  }
  return nullptr;
}

const SnapshotInfo* CatalogData::FindSnapshot(const std::string& name) const {
  for (const auto& s : snapshots) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

const CredentialInfo* CatalogData::FindCredential(const std::string& id) const {
  for (const auto& c : credentials) {
    if (c.id == id) return &c;
  }
  return nullptr;
}

const TokenInfo* CatalogData::FindToken(const std::string& id) const {
  for (const auto& t : tokens) {
    if (t.id == id) return &t;
  }
  return nullptr;
}

std::vector<std::string> CatalogData::ChildrenOf(uint32_t id) const {
  std::vector<std::string> out;
  for (const auto& b : branches) {
    if (b.parent == id) out.push_back(b.name);
  }
  return out;
}

std::vector<std::string> CatalogData::SnapshotsOf(uint32_t id) const {
  std::vector<std::string> out;
  for (const auto& s : snapshots) {
    if (s.branch == id) out.push_back(s.name);
  }
  return out;
}

Lineage CatalogData::LineageOf(uint32_t id, uint64_t max_seq) const {
  Lineage out;
  const BranchInfo* b = FindBranchById(id);
  while (b) {
    out.push_back({b->id, max_seq});
    max_seq = b->fork_seq;
    b = b->parent ? FindBranchById(b->parent) : nullptr;
  }
  return out;
}

std::vector<const BranchInfo*> CatalogData::LiveBranches() const {
  std::vector<const BranchInfo*> out;
  for (const auto& b : branches) {
    if (!b.retired) out.push_back(&b);
  }
  return out;
}

std::vector<uint32_t> CatalogData::PruneRetired() {
  std::vector<uint32_t> dropped;
  for (bool again = true; again;) {
    again = false;
    for (auto it = branches.begin(); it != branches.end(); ++it) {
      if (!it->retired || !ChildrenOf(it->id).empty() || !SnapshotsOf(it->id).empty()) continue;
      dropped.push_back(it->id);
      branches.erase(it);
      again = true;
      break;
    }
  }
  return dropped;
}

std::string EncodeCatalog(const CatalogData& c) {
  nlohmann::json j;
  j["format"] = 1;
  j["version"] = c.version;
  j["next_branch_id"] = c.next_branch_id;
  j["branches"] = nlohmann::json::array();
  for (const auto& b : c.branches) {
    j["branches"].push_back({{"id", b.id},
                             {"name", b.name},
                             {"parent", b.parent},
                             {"fork_seq", b.fork_seq},
                             {"root_ino", b.root_ino},
                             {"created_ns", b.created_ns}});
    nlohmann::json& jb = j["branches"].back();
    if (b.durability) jb["durability"] = DurabilityName(*b.durability);
    if (!b.owner.empty()) jb["owner"] = b.owner;
    if (b.expires_ns) jb["expires_ns"] = b.expires_ns;
    if (b.idle_timeout_s) jb["idle_timeout_s"] = b.idle_timeout_s;
    if (b.history_s) jb["history_s"] = *b.history_s;
    if (!b.detached_from.empty()) jb["detached_from"] = b.detached_from;
    if (b.retired) jb["retired"] = true;
  }
  j["snapshots"] = nlohmann::json::array();
  for (const auto& s : c.snapshots) {
    j["snapshots"].push_back(
        {{"name", s.name}, {"branch", s.branch}, {"seq", s.seq}, {"created_ns", s.created_ns}});
  }
  if (!c.credentials.empty()) {
    j["credentials"] = nlohmann::json::array();
    for (const auto& cr : c.credentials) {
      j["credentials"].push_back({{"id", cr.id},
                                  {"branch", cr.branch},
                                  {"role", cr.role},
                                  {"verifier", cr.verifier},
                                  {"created_ns", cr.created_ns},
                                  {"expires_ns", cr.expires_ns}});
    }
  }
  if (!c.quotas.empty()) {
    j["quotas"] = nlohmann::json::object();
    for (const auto& [owner, q] : c.quotas) {
      j["quotas"][owner] = {{"max_branches", q.max_branches}, {"max_bytes", q.max_bytes}};
    }
  }
  if (!c.tokens.empty()) {
    j["tokens"] = nlohmann::json::array();
    for (const auto& t : c.tokens) {
      j["tokens"].push_back({{"id", t.id},
                             {"owner", t.owner},
                             {"secret_sha256", t.secret_sha256},
                             {"created_ns", t.created_ns},
                             {"expires_ns", t.expires_ns},
                             {"revoked_ns", t.revoked_ns}});
    }
  }
  return j.dump(1);
}

Result<CatalogData> DecodeCatalog(const std::string& data, const std::string& name) {
  try {
    nlohmann::json j = nlohmann::json::parse(data);
    if (j.at("format").get<int>() != 1) {
      return Status::Corruption("catalog " + name + ": unsupported format");
    }
    CatalogData c;
    c.version = j.at("version").get<uint64_t>();
    c.next_branch_id = j.at("next_branch_id").get<uint32_t>();
    for (const auto& b : j.at("branches")) {
      c.branches.push_back({b.at("id").get<uint32_t>(), b.at("name").get<std::string>(),
                            b.at("parent").get<uint32_t>(), b.at("fork_seq").get<uint64_t>(),
                            b.at("root_ino").get<uint64_t>(), b.at("created_ns").get<int64_t>(),
                            std::nullopt, "", 0, 0, std::nullopt, ""});
      if (b.contains("durability")) {
        Result<Durability> d = ParseDurability(b.at("durability").get<std::string>());
        if (!d.ok()) return Status::Corruption("catalog " + name + ": " + d.status().message());
        c.branches.back().durability = *d;
      }
      c.branches.back().owner = b.value("owner", "");
      c.branches.back().expires_ns = b.value("expires_ns", int64_t{0});
      c.branches.back().idle_timeout_s = b.value("idle_timeout_s", int64_t{0});
      if (b.contains("history_s")) c.branches.back().history_s = b.at("history_s").get<int64_t>();
      c.branches.back().detached_from = b.value("detached_from", "");
      c.branches.back().retired = b.value("retired", false);
    }
    for (const auto& s : j.at("snapshots")) {
      c.snapshots.push_back({s.at("name").get<std::string>(), s.at("branch").get<uint32_t>(),
                             s.at("seq").get<uint64_t>(), s.at("created_ns").get<int64_t>()});
    }
    if (j.contains("credentials")) {
      for (const auto& cr : j.at("credentials")) {
        c.credentials.push_back(
            {cr.at("id").get<std::string>(), cr.at("branch").get<uint32_t>(),
             cr.at("role").get<std::string>(), cr.at("verifier").get<std::string>(),
             cr.at("created_ns").get<int64_t>(), cr.at("expires_ns").get<int64_t>()});
      }
    }
    if (j.contains("quotas")) {
      for (const auto& [owner, q] : j.at("quotas").items()) {
        c.quotas[owner] = {q.at("max_branches").get<int64_t>(), q.at("max_bytes").get<int64_t>()};
      }
    }
    if (j.contains("tokens")) {
      for (const auto& t : j.at("tokens")) {
        c.tokens.push_back({t.at("id").get<std::string>(), t.at("owner").get<std::string>(),
                            t.at("secret_sha256").get<std::string>(),
                            t.at("created_ns").get<int64_t>(), t.at("expires_ns").get<int64_t>(),
                            t.at("revoked_ns").get<int64_t>()});
      }
    }
    return c;
  } catch (const std::exception& e) {
    return Status::Corruption("catalog " + name + ": " + e.what());
  }
}

Result<std::unique_ptr<Catalog>> Catalog::Load(ObjectStore* store) {
  STRATA_ASSIGN_OR_RETURN(std::vector<std::string> keys, store->List(kCatalogPrefix));
  auto data = std::make_shared<CatalogData>();
  if (!keys.empty()) {
    STRATA_ASSIGN_OR_RETURN(std::string bytes, store->Get(keys.back()));
    STRATA_ASSIGN_OR_RETURN(CatalogData c, DecodeCatalog(bytes, keys.back()));
    *data = std::move(c);
  }
  return std::unique_ptr<Catalog>(new Catalog(store, std::move(data)));
}

std::shared_ptr<const CatalogData> Catalog::Current() const {
  MutexLock lock(&mu_);
  return data_;
}

Status Catalog::Update(const std::function<Status(CatalogData&)>& mutate) {
  MutexLock update_lock(&update_mu_);
  auto next = std::make_shared<CatalogData>(*Current());
  STRATA_RETURN_IF_ERROR(mutate(*next));
  next->version++;
  const std::string bytes = EncodeCatalog(*next);
  Status st = store_->PutIfAbsent(CatalogKey(next->version), bytes);
  if (!st.ok()) {
    // The write may have landed despite the error (a failed directory fsync,
    // a timed-out request): if the store holds exactly this version, it did.
    Result<std::string> stored = store_->Get(CatalogKey(next->version));
    if (!stored.ok() || *stored != bytes) return st;
  }
  if (next->version > 3) store_->Delete(CatalogKey(next->version - 3)).PermitUnchecked();
  MutexLock lock(&mu_);
  data_ = std::move(next);
  return Status::OK();
}

}  // namespace strata
