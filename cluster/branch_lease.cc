#include "cluster/branch_lease.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <vector>

#include "cluster/settled_read.h"

namespace strata {
namespace {

// A key deleted between LIST and GET means the chain moved on: look again.
constexpr int kReadRounds = 3;
// Each lost round means another claimer won an epoch.
constexpr int kClaimRounds = 8;
constexpr std::string_view kGrantSuffix = ".json";
constexpr size_t kEpochDigits = 20;

bool Decodes(std::string_view text) { return DecodeLeaseGrant(text).has_value(); }

// The epoch of `key` if it is `prefix` + 20 digits + ".json".
std::optional<uint64_t> EpochOfKey(std::string_view key, std::string_view prefix) {
  if (!key.starts_with(prefix)) return std::nullopt;
  key.remove_prefix(prefix.size());
  if (key.size() != kEpochDigits + kGrantSuffix.size() || !key.ends_with(kGrantSuffix)) {
    return std::nullopt;
  }
  const char* end = key.data() + kEpochDigits;
  if (!std::all_of(key.data(), end, [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  uint64_t epoch = 0;
  auto [p, ec] = std::from_chars(key.data(), end, epoch);
  if (ec != std::errc() || p != end) return std::nullopt;  // past 2^64
  return epoch;
}

// The epochs of the branch's lease objects, ascending; other keys are ignored.
Result<std::vector<uint64_t>> ListEpochs(ObjectStore* store, uint32_t branch) {
  const std::string prefix = LeasePrefix(branch);
  STRATA_ASSIGN_OR_RETURN(std::vector<std::string> keys, store->List(prefix));
  std::vector<uint64_t> epochs;
  for (const std::string& key : keys) {
    if (std::optional<uint64_t> e = EpochOfKey(key, prefix)) epochs.push_back(*e);
  }
  std::sort(epochs.begin(), epochs.end());
  return epochs;
}

// Deletes the listed epochs up to `last`, best effort: a key left behind
// only costs space, and the next winner tries again.
void DeleteThrough(ObjectStore* store, uint32_t branch, const std::vector<uint64_t>& epochs,
                   uint64_t last) {
  for (uint64_t e : epochs) {
    if (e > last) break;
    store->Delete(LeaseKey(branch, e)).PermitUnchecked();
  }
}

Result<std::optional<LeaseGrant>> DecodeAt(ObjectStore* store, const std::string& key,
                                           uint32_t branch, uint64_t epoch,
                                           const std::string& text) {
  std::optional<LeaseGrant> g = DecodeLeaseGrant(text);
  if (!g) {
    return Status::Corruption(store->Url() + ": " + key + " is not a lease grant: \"" +
                              text.substr(0, 200) + "\"");
  }
  if (g->branch != branch || g->epoch != epoch) {
    return Status::Corruption(store->Url() + ": " + key + " holds the grant of branch " +
                              std::to_string(g->branch) + " epoch " + std::to_string(g->epoch));
  }
  return g;
}

// After `mine` was written: whether it is still the newest grant (a claimer
// that read long ago may have re-created an epoch older ones had deleted).
// If so, deletes the epochs before its predecessor.
Result<bool> ConfirmClaim(ObjectStore* store, const LeaseGrant& mine) {
  STRATA_ASSIGN_OR_RETURN(std::vector<uint64_t> epochs, ListEpochs(store, mine.branch));
  if (!epochs.empty() && epochs.back() > mine.epoch) {
    spdlog::info("branch {}: epoch {} of node {} was already superseded by epoch {}", mine.branch,
                 mine.epoch, mine.node, epochs.back());
    return false;
  }
  if (mine.epoch >= 2) DeleteThrough(store, mine.branch, epochs, mine.epoch - 2);
  return true;
}

std::string Holder(const LeaseGrant& g) {
  return g.node.empty() ? "nobody" : "node " + g.node + " (" + g.incarnation + ")";
}

}  // namespace

std::string LeasePrefix(uint32_t branch) {
  // Under the branch's own prefix, so deleting the branch deletes its lease.
  return "branches/" + std::to_string(branch) + "/lease/";
}

std::string LeaseKey(uint32_t branch, uint64_t epoch) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%020" PRIu64, epoch);
  return LeasePrefix(branch) + buf + std::string(kGrantSuffix);
}

std::string EncodeLeaseGrant(const LeaseGrant& g) {
  nlohmann::json j = {{"branch", g.branch},
                      {"epoch", g.epoch},
                      {"node", g.node},
                      {"incarnation", g.incarnation},
                      {"taken_ns", g.taken_ns}};
  return j.dump();
}

std::optional<LeaseGrant> DecodeLeaseGrant(std::string_view json) {
  nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  auto str = [&](const char* k) { return j.contains(k) && j[k].is_string(); };
  auto uns = [&](const char* k) { return j.contains(k) && j[k].is_number_unsigned(); };
  if (!uns("branch") || !uns("epoch") || !str("node") || !str("incarnation") ||
      !j.contains("taken_ns") || !j["taken_ns"].is_number_integer() ||
      j["branch"].get<uint64_t>() > std::numeric_limits<uint32_t>::max()) {
    return std::nullopt;
  }
  return LeaseGrant{static_cast<uint32_t>(j["branch"].get<uint64_t>()), j["epoch"].get<uint64_t>(),
                    j["node"].get<std::string>(), j["incarnation"].get<std::string>(),
                    j["taken_ns"].get<int64_t>()};
}

Result<std::optional<LeaseGrant>> ReadLease(ObjectStore* store, uint32_t branch, Clock* clock) {
  for (int round = 0; round < kReadRounds; round++) {
    STRATA_ASSIGN_OR_RETURN(std::vector<uint64_t> epochs, ListEpochs(store, branch));
    if (epochs.empty()) return std::optional<LeaseGrant>();
    const std::string key = LeaseKey(branch, epochs.back());
    Result<std::string> text = cluster_internal::GetSettled(store, key, clock, Decodes);
    if (text.status().IsNotFound()) continue;
    if (!text.ok()) return text.status();
    return DecodeAt(store, key, branch, epochs.back(), *text);
  }
  return Status::Busy("branch " + std::to_string(branch) +
                      ": its newest lease object keeps vanishing (is the branch being deleted?)");
}

NodeLiveness StoreLiveness(ObjectStore* store, Clock* clock) {
  return [store, clock](const std::string& node, const std::string& incarnation) -> Result<bool> {
    if (!ValidNodeId(node)) return false;  // no such node can be registered
    STRATA_ASSIGN_OR_RETURN(std::optional<NodeRecord> r, NodeRegistry::Read(store, node, clock));
    return r && r->incarnation == incarnation && NodeAlive(*r, clock->NowNs() / 1'000'000);
  };
}

Result<LeaseGrant> ClaimLease(ObjectStore* store, uint32_t branch, const NodeRecord& self,
                              const NodeLiveness& live, Clock* clock) {
  if (!ValidNodeId(self.id) || self.incarnation.empty()) {
    return Status::Invalid("claim of branch " + std::to_string(branch) +
                           ": the claimer needs a valid node id and an incarnation");
  }
  for (int round = 0; round < kClaimRounds; round++) {
    STRATA_ASSIGN_OR_RETURN(std::optional<LeaseGrant> cur, ReadLease(store, branch, clock));
    if (cur && cur->node == self.id && cur->incarnation == self.incarnation) return *cur;
    // An earlier incarnation of self.id is dead: this process replaced it.
    if (cur && !cur->node.empty() && cur->node != self.id) {
      STRATA_ASSIGN_OR_RETURN(bool alive, live(cur->node, cur->incarnation));
      if (alive) {
        return Status::Busy("branch " + std::to_string(branch) + " is held by node " + cur->node +
                            " (epoch " + std::to_string(cur->epoch) + ")");
      }
    }
    if (cur && cur->epoch == std::numeric_limits<uint64_t>::max()) {
      return Status::Corruption("branch " + std::to_string(branch) + ": lease epoch overflow");
    }
    LeaseGrant mine{branch, cur ? cur->epoch + 1 : 1, self.id, self.incarnation, clock->NowNs()};
    Status s = store->PutIfAbsent(LeaseKey(branch, mine.epoch), EncodeLeaseGrant(mine));
    if (s.IsExists()) continue;  // another claimer won this epoch: decide again
    STRATA_RETURN_IF_ERROR(s);
    STRATA_ASSIGN_OR_RETURN(bool won, ConfirmClaim(store, mine));
    if (won) {
      spdlog::info("branch {}: node {} took the lease at epoch {} from {}", branch, self.id,
                   mine.epoch, cur ? Holder(*cur) : "nobody");
      return mine;
    }
  }
  return Status::Busy("branch " + std::to_string(branch) +
                      ": other nodes keep claiming its lease; try again");
}

namespace {

// Writes `next` (held.epoch + 1) after the holder's `held`; kExists if that
// epoch was taken over. Then deletes the epochs the winner of `next` may.
Status PassOn(ObjectStore* store, const LeaseGrant& held, const LeaseGrant& next) {
  if (held.node.empty() || held.epoch == 0) {
    return Status::Invalid("branch " + std::to_string(held.branch) + ": not a held grant");
  }
  STRATA_RETURN_IF_ERROR(
      store->PutIfAbsent(LeaseKey(held.branch, next.epoch), EncodeLeaseGrant(next)));
  Result<std::vector<uint64_t>> epochs = ListEpochs(store, held.branch);
  if (epochs.ok()) DeleteThrough(store, held.branch, *epochs, held.epoch - 1);
  return Status::OK();
}

}  // namespace

Status ReleaseLease(ObjectStore* store, const LeaseGrant& held) {
  const LeaseGrant released{held.branch, held.epoch + 1, "", "", NowNs()};
  Status s = PassOn(store, held, released);
  if (s.IsExists()) {
    spdlog::info("branch {}: node {} had nothing to release: epoch {} was taken over", held.branch,
                 held.node, released.epoch);
    return Status::OK();
  }
  return s;
}

Result<LeaseGrant> HandOverLease(ObjectStore* store, const LeaseGrant& held, const NodeRecord& to) {
  if (!ValidNodeId(to.id) || to.incarnation.empty()) {
    return Status::Invalid("hand-over of branch " + std::to_string(held.branch) +
                           ": the receiver needs a valid node id and an incarnation");
  }
  const LeaseGrant next{held.branch, held.epoch + 1, to.id, to.incarnation, NowNs()};
  Status s = PassOn(store, held, next);
  if (s.IsExists()) {
    return Status::Busy("branch " + std::to_string(held.branch) + ": epoch " +
                        std::to_string(next.epoch) + " was taken over before node " + held.node +
                        " could hand it to " + to.id);
  }
  STRATA_RETURN_IF_ERROR(s);
  spdlog::info("branch {}: node {} handed the lease to node {} at epoch {}", held.branch, held.node,
               to.id, next.epoch);
  return next;
}

}  // namespace strata
