#include "layers/page_cache.h"

namespace strata {

std::shared_ptr<const std::string> PageCache::Lookup(const Key& key) {
  MutexLock lock(&mu_);
  auto it = map_.find(key);
  if (it == map_.end()) {
    stats_.misses++;
    return nullptr;
  }
  stats_.hits++;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->second;
}

void PageCache::Insert(const Key& key, std::shared_ptr<const std::string> value) {
  const uint64_t size = value->size();
  if (size > capacity_) return;
  MutexLock lock(&mu_);
  if (auto it = map_.find(key); it != map_.end()) {
    stats_.bytes -= it->second->second->size();
    lru_.erase(it->second);
    map_.erase(it);
  }
  lru_.emplace_front(key, std::move(value));
  map_[key] = lru_.begin();
  stats_.bytes += size;
  while (stats_.bytes > capacity_) {
    const Entry& victim = lru_.back();
    stats_.bytes -= victim.second->size();
    map_.erase(victim.first);
    lru_.pop_back();
    stats_.evictions++;
  }
}

void PageCache::EraseBranch(uint32_t branch) {
  MutexLock lock(&mu_);
  for (auto it = lru_.begin(); it != lru_.end();) {
    if (it->first.branch != branch) {
      ++it;
      continue;
    }
    stats_.bytes -= it->second->size();
    map_.erase(it->first);
    it = lru_.erase(it);
  }
}

CacheStats PageCache::Stats() {
  MutexLock lock(&mu_);
  CacheStats s = stats_;
  s.capacity = capacity_;
  return s;
}

}  // namespace strata
