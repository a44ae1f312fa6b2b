#include "layers/memtable.h"

#include <algorithm>

namespace strata {

void Memtable::Add(std::string_view key, uint64_t seq, bool tombstone, std::string value) {
  WriterLock lock(&mu_);
  bytes_ += key.size() + value.size() + 72;
  min_seq_ = std::min(min_seq_, seq);
  max_seq_ = std::max(max_seq_, seq);
  map_.insert_or_assign(Slot(key, seq), Version{seq, tombstone, std::move(value)});
}

void Memtable::AddTime(uint64_t seq, uint64_t time_ns) {
  WriterLock lock(&mu_);
  times_.push_back({seq, time_ns});
  min_seq_ = std::min(min_seq_, seq);
  max_seq_ = std::max(max_seq_, seq);
  bytes_ += sizeof(TimePoint);
}

std::optional<Version> Memtable::Get(std::string_view key, uint64_t max_seq) const {
  ReaderLock lock(&mu_);
  auto it = map_.lower_bound(Probe(key, max_seq));
  if (it == map_.end() || it->first.first != key) return std::nullopt;
  return it->second;
}

void Memtable::Scan(std::string_view prefix, uint64_t max_seq,
                    const std::function<void(std::string_view, const Version&)>& fn,
                    std::string_view start) const {
  const std::string_view from = start > prefix ? start : prefix;
  ReaderLock lock(&mu_);
  std::string_view last_key;
  bool have_last = false;
  for (auto it = map_.lower_bound(Probe(from, UINT64_MAX)); it != map_.end(); ++it) {
    std::string_view key = it->first.first;
    if (key.substr(0, prefix.size()) != prefix) break;
    if (have_last && key == last_key) continue;  // an older version of a key already answered
    if (it->second.seq > max_seq) continue;
    fn(key, it->second);
    last_key = key;
    have_last = true;
  }
}

void Memtable::ForEach(const std::function<void(std::string_view key, const Version&)>& fn) const {
  ReaderLock lock(&mu_);
  for (const auto& [slot, v] : map_) fn(slot.first, v);
}

std::optional<TimePoint> Memtable::SeqAtTime(uint64_t t) const {
  ReaderLock lock(&mu_);
  auto it = std::upper_bound(times_.begin(), times_.end(), t,
                             [](uint64_t x, const TimePoint& p) { return x < p.time_ns; });
  if (it == times_.begin()) return std::nullopt;
  return *std::prev(it);
}

size_t Memtable::ApproximateBytes() const {
  ReaderLock lock(&mu_);
  return bytes_;
}

bool Memtable::Empty() const {
  ReaderLock lock(&mu_);
  return map_.empty() && times_.empty();
}

uint64_t Memtable::MinSeq() const {
  ReaderLock lock(&mu_);
  return min_seq_;
}

std::vector<TimePoint> Memtable::times() const {
  ReaderLock lock(&mu_);
  return times_;
}

uint64_t Memtable::MaxSeq() const {
  ReaderLock lock(&mu_);
  return max_seq_;
}

}  // namespace strata
