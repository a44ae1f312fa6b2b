#include "cluster/node_registry.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <exception>
#include <system_error>

#include "cluster/settled_read.h"
#include "common/crypto.h"
#include "common/process.h"

namespace strata {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

constexpr std::string_view kNodesPrefix = "nodes/";
constexpr std::string_view kRecordSuffix = ".json";

int64_t SteadyNs(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<nanoseconds>(t.time_since_epoch()).count();
}

bool Decodes(std::string_view text) { return DecodeNodeRecord(text).has_value(); }

// The callback's load, or {} if it throws or returns a non-object: a record
// whose load is not an object would not decode, and the node would vanish
// from everyone's view.
nlohmann::json CallLoad(const std::function<nlohmann::json()>& load) {
  try {
    nlohmann::json j = load();
    if (j.is_object()) return j;
    spdlog::warn("node registry: the load callback returned a non-object; reporting {{}}");
  } catch (const std::exception& e) {
    spdlog::warn("node registry: the load callback failed: {}; reporting {{}}", e.what());
  }
  return nlohmann::json::object();
}

// `r` with a heartbeat and expiry as of now, and the current load.
NodeRecord Stamp(NodeRecord r, const NodeRegistryOptions& options) {
  r.heartbeat_ns = options.clock->NowNs();
  r.expires_unix_ms = r.heartbeat_ns / 1'000'000 + options.ttl.count();
  if (options.load) r.load = CallLoad(options.load);
  return r;
}

// The record at `key`; nullopt if absent, kCorruption if it never decodes.
Result<std::optional<NodeRecord>> ReadAt(ObjectStore* store, const std::string& key, Clock* clock) {
  Result<std::string> text = cluster_internal::GetSettled(store, key, clock, Decodes);
  if (text.status().IsNotFound()) return std::optional<NodeRecord>();
  if (!text.ok()) return text.status();
  std::optional<NodeRecord> r = DecodeNodeRecord(*text);
  if (!r) {
    return Status::Corruption(store->Url() + ": " + key + " is not a node record: \"" +
                              text->substr(0, 200) + "\"");
  }
  return r;
}

// OK unless the record of self.id belongs to a live incarnation.
Status CheckIdFree(ObjectStore* store, const NodeRecord& self, Clock* clock) {
  Result<std::optional<NodeRecord>> old = NodeRegistry::Read(store, self.id, clock);
  if (old.status().code() == Code::kCorruption) {
    // The id is ours by configuration; a record nobody can read holds nothing.
    spdlog::warn("{}; overwriting it", old.status().message());
    return Status::OK();
  }
  if (!old.ok()) return old.status();
  if (!*old) return Status::OK();
  const NodeRecord& r = **old;
  if (r.incarnation == self.incarnation || !NodeAlive(r, clock->NowNs() / 1'000'000)) {
    return Status::OK();
  }
  if (r.host == self.host && !ProcessRuns(r.pid)) {
    spdlog::warn("node id {}: taking over the record of pid {} on {}, which no longer runs", r.id,
                 r.pid, r.host);
    return Status::OK();
  }
  return Status::Busy("node id " + r.id + " is in use by pid " + std::to_string(r.pid) + " on " +
                      r.host + " (heartbeat until " + FormatRfc3339(r.expires_unix_ms * 1'000'000) +
                      ")");
}

}  // namespace

std::string NodeKey(const std::string& id) {
  return std::string(kNodesPrefix) + id + std::string(kRecordSuffix);
}

bool ValidNodeId(std::string_view id) {
  if (id.empty() || id.size() > 64 || id.front() == '-') return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

std::string EncodeNodeRecord(const NodeRecord& r) {
  nlohmann::json j = {{"id", r.id},
                      {"incarnation", r.incarnation},
                      {"host", r.host},
                      {"pid", r.pid},
                      {"mountpoint", r.mountpoint},
                      {"proxy_addr", r.proxy_addr},
                      {"proxy_tls", r.proxy_tls},
                      {"api_addr", r.api_addr},
                      {"started_ns", r.started_ns},
                      {"heartbeat_ns", r.heartbeat_ns},
                      {"expires_unix_ms", r.expires_unix_ms},
                      {"ttl_ms", r.ttl_ms},
                      {"load", r.load}};
  return j.dump();
}

std::optional<NodeRecord> DecodeNodeRecord(std::string_view json) {
  nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  auto str = [&](const char* k) { return j.contains(k) && j[k].is_string(); };
  auto num = [&](const char* k) { return j.contains(k) && j[k].is_number_integer(); };
  if (!str("id") || !str("incarnation") || !str("host") || !num("pid") || !str("mountpoint") ||
      !str("proxy_addr") || !str("api_addr") || !num("started_ns") || !num("heartbeat_ns") ||
      !num("expires_unix_ms") || !num("ttl_ms") || !j.contains("load") || !j["load"].is_object() ||
      (j.contains("proxy_tls") && !str("proxy_tls"))) {
    return std::nullopt;
  }
  NodeRecord r;
  r.id = j["id"].get<std::string>();
  r.incarnation = j["incarnation"].get<std::string>();
  r.host = j["host"].get<std::string>();
  r.pid = j["pid"].get<int64_t>();
  r.mountpoint = j["mountpoint"].get<std::string>();
  r.proxy_addr = j["proxy_addr"].get<std::string>();
  r.api_addr = j["api_addr"].get<std::string>();
  if (str("proxy_tls")) r.proxy_tls = j["proxy_tls"].get<std::string>();
  r.started_ns = j["started_ns"].get<int64_t>();
  r.heartbeat_ns = j["heartbeat_ns"].get<int64_t>();
  r.expires_unix_ms = j["expires_unix_ms"].get<int64_t>();
  r.ttl_ms = j["ttl_ms"].get<int64_t>();
  r.load = j["load"];
  return r;
}

bool NodeAlive(const NodeRecord& r, int64_t now_unix_ms) { return now_unix_ms < r.expires_unix_ms; }

Result<std::unique_ptr<NodeRegistry>> NodeRegistry::Register(ObjectStore* store, NodeRecord self,
                                                             NodeRegistryOptions options) {
  if (!ValidNodeId(self.id)) {
    return Status::Invalid("node id \"" + self.id +
                           "\" is not valid: 1-64 of [a-z0-9-], not starting with '-'");
  }
  if (options.ttl <= milliseconds(0)) return Status::Invalid("node registry: ttl must be positive");
  Clock* clock = options.clock;
  if (self.incarnation.empty()) self.incarnation = crypto::HexEncode(crypto::RandomBytes(8));
  if (self.host.empty()) self.host = Hostname();
  if (self.pid == 0) self.pid = getpid();
  STRATA_RETURN_IF_ERROR(CheckIdFree(store, self, clock));

  // Read before the wall clock, so the expiry written is at least start + ttl.
  const auto started = clock->SteadyNow();
  self.started_ns = clock->NowNs();
  self.ttl_ms = options.ttl.count();
  self = Stamp(std::move(self), options);
  STRATA_RETURN_IF_ERROR(store->Put(NodeKey(self.id), EncodeNodeRecord(self)));
  spdlog::info("node {} registered (incarnation {}, ttl {} ms)", self.id, self.incarnation,
               self.ttl_ms);
  const auto first = started + std::max(options.ttl / 3, milliseconds(1));
  std::unique_ptr<NodeRegistry> reg(new NodeRegistry(store, std::move(self), std::move(options)));
  reg->last_renewal_start_ns_.store(SteadyNs(started));
  try {
    reg->renewer_ = std::thread([r = reg.get(), first] { r->RenewLoop(first); });
  } catch (const std::system_error& e) {
    // The destructor deletes the record.
    return Status::IO("node registry: cannot start the renewal thread: " + std::string(e.what()));
  }
  return reg;
}

NodeRegistry::NodeRegistry(ObjectStore* store, NodeRecord self, NodeRegistryOptions options)
    : store_(store),
      self_(std::move(self)),
      options_(std::move(options)),
      proxy_addr_(self_.proxy_addr),
      api_addr_(self_.api_addr),
      proxy_tls_(self_.proxy_tls) {}

NodeRegistry::~NodeRegistry() { Deregister(); }

bool NodeRegistry::Alive() const {
  if (fenced_.load()) return false;
  const nanoseconds since(SteadyNs(options_.clock->SteadyNow()) - last_renewal_start_ns_.load());
  if (since < options_.ttl * 2 / 3) return true;
  Fence("no renewal of its record succeeded in the last " +
        std::to_string(std::chrono::duration_cast<milliseconds>(since).count()) +
        " ms (the limit is 2/3 of the " + std::to_string(options_.ttl.count()) + " ms ttl)");
  return false;
}

void NodeRegistry::Fence(const std::string& why) const {
  if (fenced_.exchange(true) || why.empty()) return;
  spdlog::error("node {} (incarnation {}) is no longer a live member: {}", self_.id,
                self_.incarnation, why);
}

void NodeRegistry::Deregister() {
  {
    MutexLock l(&mu_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.SignalAll();
  if (renewer_.joinable()) renewer_.join();
  Fence("");
  DeleteOwnRecord();
}

void NodeRegistry::DeleteOwnRecord() {
  const std::string key = NodeKey(self_.id);
  Result<std::optional<NodeRecord>> r = Read(store_, self_.id, options_.clock);
  if (r.ok() && *r && (*r)->incarnation != self_.incarnation) {
    spdlog::info("node {}: left {} alone: it is now incarnation {}'s", self_.id, key,
                 (*r)->incarnation);
    return;
  }
  if (r.ok() && !*r) return;
  Status s = r.ok() ? store_->Delete(key) : r.status();
  if (!s.ok()) {
    spdlog::warn("node {}: could not delete {} ({}); it expires on its own", self_.id, key,
                 s.ToString());
  }
}

Status NodeRegistry::SetAddresses(std::string proxy_addr, std::string api_addr,
                                  std::string proxy_tls) {
  {
    MutexLock l(&addr_mu_);
    proxy_addr_ = std::move(proxy_addr);
    api_addr_ = std::move(api_addr);
    proxy_tls_ = std::move(proxy_tls);
  }
  return WriteRecord(options_.clock->SteadyNow());
}

Status NodeRegistry::WriteRecord(std::chrono::steady_clock::time_point started) {
  NodeRecord r = Stamp(self_, options_);
  {
    MutexLock l(&addr_mu_);
    r.proxy_addr = proxy_addr_;
    r.api_addr = api_addr_;
    r.proxy_tls = proxy_tls_;
  }
  STRATA_RETURN_IF_ERROR(store_->Put(NodeKey(r.id), EncodeNodeRecord(r)));
  last_renewal_start_ns_.store(SteadyNs(started));
  return Status::OK();
}

bool NodeRegistry::WaitOrStop(std::chrono::steady_clock::time_point deadline) {
  return !cv_.WaitUntil(&mu_, options_.clock, deadline, [&]() REQUIRES(mu_) { return stop_; });
}

void NodeRegistry::RenewLoop(std::chrono::steady_clock::time_point first) {
  const milliseconds interval = std::max(options_.ttl / 3, milliseconds(1));
  const milliseconds retry = std::max(options_.ttl / 10, milliseconds(1));
  auto next = first;
  MutexLock l(&mu_);
  while (WaitOrStop(next)) {
    const auto started = options_.clock->SteadyNow();
    l.Unlock();
    // A fenced node stops renewing, so that its record expires and others
    // take over what it held.
    const bool alive = Alive();
    const Status s = alive ? WriteRecord(started) : Status::OK();
    if (!s.ok()) {
      spdlog::warn("node {}: renewing {} failed, retrying: {}", self_.id, NodeKey(self_.id),
                   s.ToString());
    }
    l.Lock();
    if (!alive) return;
    next = started + (s.ok() ? interval : retry);
  }
}

Result<std::vector<NodeRecord>> NodeRegistry::List(ObjectStore* store, Clock* clock) {
  STRATA_ASSIGN_OR_RETURN(std::vector<std::string> keys, store->List(std::string(kNodesPrefix)));
  std::vector<NodeRecord> out;
  for (const std::string& key : keys) {
    if (!key.ends_with(kRecordSuffix)) continue;
    Result<std::optional<NodeRecord>> r = ReadAt(store, key, clock);
    if (r.status().code() == Code::kCorruption) {
      spdlog::warn("node registry: skipping {}", r.status().message());
      continue;
    }
    if (!r.ok()) return r.status();
    if (!*r) continue;  // deregistered since the LIST
    if (NodeKey((*r)->id) != key) {
      spdlog::warn("node registry: skipping {}: it names node {}", key, (*r)->id);
      continue;
    }
    out.push_back(std::move(**r));
  }
  std::sort(out.begin(), out.end(),
            [](const NodeRecord& a, const NodeRecord& b) { return a.id < b.id; });
  return out;
}

Result<std::optional<NodeRecord>> NodeRegistry::Read(ObjectStore* store, const std::string& id,
                                                     Clock* clock) {
  if (!ValidNodeId(id)) return Status::Invalid("node id \"" + id + "\" is not valid");
  const std::string key = NodeKey(id);
  STRATA_ASSIGN_OR_RETURN(std::optional<NodeRecord> r, ReadAt(store, key, clock));
  if (r && r->id != id) {
    return Status::Corruption(store->Url() + ": " + key + " names node " + r->id);
  }
  return r;
}

}  // namespace strata
