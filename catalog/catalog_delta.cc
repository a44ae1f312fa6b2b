#include "catalog/catalog_delta.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

namespace strata {

namespace {

uint32_t KeyOf(const BranchInfo& b) { return b.id; }
const std::string& KeyOf(const SnapshotInfo& s) { return s.name; }
const std::string& KeyOf(const CredentialInfo& c) { return c.id; }
const std::string& KeyOf(const TokenInfo& t) { return t.id; }

template <typename T>
using KeyType = std::decay_t<decltype(KeyOf(std::declval<const T&>()))>;

// Whether any entry of `v` has a key in `keys` (sorted).
template <typename T>
bool AnyKeyIn(const std::vector<T>& v, const std::vector<KeyType<T>>& keys) {
  if (keys.empty()) return false;
  return std::any_of(v.begin(), v.end(), [&](const T& e) {
    return std::binary_search(keys.begin(), keys.end(), KeyOf(e));
  });
}

// Adds to *puts and *dels what turns `from` into `to`. False when no delta
// could: an entry kept from `from` moved, a new one does not come after all
// of them, or `to` holds a key twice. Allocates only for what changed: a
// catalog of 10,000 branches is diffed on every change.
template <typename T>
bool DiffSection(const std::vector<T>& from, const std::vector<T>& to, std::vector<T>* puts,
                 std::vector<KeyType<T>>* dels) {
  // Walk both in step; an entry of `from` not where `to` has it next is
  // taken as deleted, and everything left in `to` as appended.
  size_t j = 0;
  std::vector<KeyType<T>> gone;
  for (const T& f : from) {
    if (j < to.size() && KeyOf(to[j]) == KeyOf(f)) {
      if (!(to[j] == f)) puts->push_back(to[j]);
      j++;
    } else {
      gone.push_back(KeyOf(f));
    }
  }
  std::vector<KeyType<T>> added;
  for (size_t k = j; k < to.size(); k++) added.push_back(KeyOf(to[k]));
  // That reading is right only if no "deleted" key is still in `to` (it
  // moved) and no "appended" key was in `from` or comes twice.
  std::sort(gone.begin(), gone.end());
  std::sort(added.begin(), added.end());
  if (std::adjacent_find(added.begin(), added.end()) != added.end() || AnyKeyIn(to, gone) ||
      AnyKeyIn(from, added)) {
    return false;
  }
  puts->insert(puts->end(), to.begin() + static_cast<std::ptrdiff_t>(j), to.end());
  dels->insert(dels->end(), gone.begin(), gone.end());
  return true;
}

template <typename T>
Status ApplySection(const std::vector<KeyType<T>>& dels, const std::vector<T>& puts,
                    const std::string& what, const std::string& name, std::vector<T>* v) {
  if (!dels.empty()) {
    const std::unordered_set<KeyType<T>> gone(dels.begin(), dels.end());
    const size_t before = v->size();
    std::erase_if(*v, [&](const T& e) { return gone.contains(KeyOf(e)); });
    if (before - v->size() != gone.size()) {
      return Status::Corruption("catalog " + name + " deletes a " + what +
                                " its base version does not have");
    }
  }
  if (puts.empty()) return Status::OK();
  std::unordered_map<KeyType<T>, size_t> at;
  at.reserve(v->size() + puts.size());
  for (size_t i = 0; i < v->size(); i++) at.emplace(KeyOf((*v)[i]), i);
  for (const T& p : puts) {
    auto [it, added] = at.emplace(KeyOf(p), v->size());
    if (added) {
      v->push_back(p);
    } else {
      (*v)[it->second] = p;
    }
  }
  return Status::OK();
}

}  // namespace

std::optional<CatalogDelta> DiffCatalog(const CatalogData& from, const CatalogData& to) {
  CatalogDelta d;
  d.version = to.version;
  d.next_branch_id = to.next_branch_id;
  if (to.version != from.version + 1) return std::nullopt;
  if (!DiffSection(from.branches, to.branches, &d.put_branches, &d.del_branches) ||
      !DiffSection(from.snapshots, to.snapshots, &d.put_snapshots, &d.del_snapshots) ||
      !DiffSection(from.credentials, to.credentials, &d.put_credentials, &d.del_credentials) ||
      !DiffSection(from.tokens, to.tokens, &d.put_tokens, &d.del_tokens)) {
    return std::nullopt;
  }
  for (const auto& [owner, q] : to.quotas) {
    auto it = from.quotas.find(owner);
    if (it == from.quotas.end() || !(it->second == q)) d.put_quotas[owner] = q;
  }
  for (const auto& [owner, q] : from.quotas) {
    if (!to.quotas.contains(owner)) d.del_quotas.push_back(owner);
  }
  return d;
}

Status ApplyCatalogDelta(const CatalogDelta& d, const std::string& name, CatalogData* c) {
  if (d.version != c->version + 1) {
    return Status::Corruption("catalog " + name + " is a delta on version " +
                              std::to_string(d.version - 1) + ", applied to version " +
                              std::to_string(c->version));
  }
  STRATA_RETURN_IF_ERROR(
      ApplySection(d.del_branches, d.put_branches, "branch", name, &c->branches));
  STRATA_RETURN_IF_ERROR(
      ApplySection(d.del_snapshots, d.put_snapshots, "snapshot", name, &c->snapshots));
  STRATA_RETURN_IF_ERROR(
      ApplySection(d.del_credentials, d.put_credentials, "credential", name, &c->credentials));
  STRATA_RETURN_IF_ERROR(ApplySection(d.del_tokens, d.put_tokens, "token", name, &c->tokens));
  for (const std::string& owner : d.del_quotas) {
    if (c->quotas.erase(owner) == 0) {
      return Status::Corruption("catalog " + name +
                                " deletes a quota its base version does not have");
    }
  }
  for (const auto& [owner, q] : d.put_quotas) c->quotas[owner] = q;
  c->next_branch_id = d.next_branch_id;
  c->version = d.version;
  return Status::OK();
}

}  // namespace strata
