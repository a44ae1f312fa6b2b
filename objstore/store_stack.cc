#include "objstore/store_stack.h"

#include <cerrno>
#include <cstdlib>

#include "common/filename.h"

namespace strata {
namespace {

bool EndsWith(const std::string& s, std::string_view x) {
  return s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0;
}

// Layers are the only objects read in ranges and never rewritten once named.
bool IsLayerKey(const std::string& key) { return EndsWith(key, ".layer"); }

bool ParseU64(const std::string& s, uint64_t* out) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos) return false;
  errno = 0;
  char* end = nullptr;
  *out = std::strtoull(s.c_str(), &end, 10);
  return errno == 0 && *end == '\0';
}

}  // namespace

Result<FaultConfig> ParseFaultSpec(const std::string& spec) {
  FaultConfig c;
  size_t start = 0;
  while (start <= spec.size()) {
    size_t end = spec.find(',', start);
    if (end == std::string::npos) end = spec.size();
    const std::string item = spec.substr(start, end - start);
    start = end + 1;
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    const std::string name = item.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : item.substr(eq + 1);
    uint64_t n = 0;
    auto bad = [&] {
      return Status::Invalid("fault spec \"" + spec + "\": bad item \"" + item + "\"");
    };
    if (name == "error_rate") {
      char* e = nullptr;
      errno = 0;
      double rate = std::strtod(value.c_str(), &e);
      if (value.empty() || *e != '\0' || errno != 0 || !(rate >= 0 && rate <= 1)) return bad();
      c.error_rate = rate;
    } else if (name == "latency_ms" && ParseU64(value, &n) && n <= 60000) {
      c.latency = std::chrono::milliseconds(n);
    } else if (name == "seed" && ParseU64(value, &n)) {
      c.seed = n;
    } else if (name == "fail_all" && (value == "0" || value == "1")) {
      c.fail_all = value == "1";
    } else {
      return bad();
    }
  }
  return c;
}

Result<int64_t> ParseByteSize(const std::string& text) {
  std::string digits = text;
  int shift = 0;
  if (!digits.empty()) {
    switch (digits.back()) {
      case 'K':
      case 'k':
        shift = 10;
        break;
      case 'M':
      case 'm':
        shift = 20;
        break;
      case 'G':
      case 'g':
        shift = 30;
        break;
      case 'T':
      case 't':
        shift = 40;
        break;
      default:
        break;
    }
    if (shift) digits.pop_back();
  }
  uint64_t n = 0;
  if (!ParseU64(digits, &n) || n > (uint64_t{1} << (62 - shift))) {
    return Status::Invalid("bad size \"" + text +
                           "\": want a number of bytes, or N with K, M, G or T");
  }
  return static_cast<int64_t>(n << shift);
}

Result<std::unique_ptr<StoreStack>> StoreStack::Open(const StoreStackOptions& o) {
  std::unique_ptr<StoreStack> s(new StoreStack());
  STRATA_ASSIGN_OR_RETURN(s->base_, OpenObjectStore(o.url));
  ObjectStore* below = s->base_.get();
  if (!o.faults.empty()) {
    STRATA_ASSIGN_OR_RETURN(FaultConfig faults, ParseFaultSpec(o.faults));
    s->faults_ = std::make_unique<FaultInjectingStore>(below, faults);
    below = s->faults_.get();
  }
  RetryPolicy policy;
  policy.deadline = o.retry_deadline;
  s->retrying_ = std::make_unique<RetryingStore>(below, policy);
  s->metered_ = std::make_unique<MeteredStore>(s->retrying_.get());
  s->top_ = s->metered_.get();
  const bool remote = o.url.rfind("file://", 0) != 0;
  const int64_t cache_bytes = o.cache_bytes >= 0 ? o.cache_bytes
                              : remote           ? kDefaultRemoteCacheBytes
                                                 : 0;
  if (cache_bytes > 0 && !o.cache_dir.empty()) {
    DiskCacheOptions copts;
    copts.dir = filename::Objects(o.cache_dir);
    copts.capacity_bytes = static_cast<uint64_t>(cache_bytes);
    copts.cacheable = IsLayerKey;
    s->cache_ = std::make_unique<DiskCachedStore>(s->metered_.get(), copts);
    s->top_ = s->cache_.get();
  }
  return s;
}

nlohmann::json StoreStack::StatsJson() const {
  nlohmann::json l2 = nullptr;
  if (cache_) {
    const DiskCacheStats c = cache_->Stats();
    l2 = {{"hits", c.hits},           {"misses", c.misses},
          {"hit_bytes", c.hit_bytes}, {"fetched_bytes", c.fetched_bytes},
          {"bytes", c.bytes},         {"capacity", c.capacity},
          {"chunks", c.chunks},       {"evictions", c.evictions},
          {"corrupt", c.corrupt},     {"write_errors", c.write_errors}};
  }
  const MeterStats m = metered_->Stats();
  const RetryStats r = retrying_->Stats();
  nlohmann::json l3 = {{"url", base_->Url()},
                       {"reads", m.reads},
                       {"read_bytes", m.read_bytes},
                       {"writes", m.writes},
                       {"write_bytes", m.write_bytes},
                       {"heads", m.heads},
                       {"lists", m.lists},
                       {"deletes", m.deletes},
                       {"errors", m.errors},
                       {"retries", r.retries},
                       {"give_ups", r.give_ups}};
  if (faults_) l3["injected_faults"] = faults_->injected_faults();
  return {{"l2", l2}, {"l3", l3}};
}

}  // namespace strata
