#include "objstore/s3_lease.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>
#include <system_error>
#include <thread>

#include "common/crypto.h"
#include "common/process.h"

namespace strata {
namespace {

using std::chrono::milliseconds;

int64_t NowUnixMs(Clock* clock) { return clock->NowNs() / 1'000'000; }

std::string RandomToken() { return crypto::HexEncode(crypto::RandomBytes(16)); }

std::string FormatUnixMs(int64_t ms) {
  time_t secs = static_cast<time_t>(ms / 1000);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[32];
  size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf, n);
}

// Reads the record, again a few times while reading fails transiently or the
// text does not parse: a server without atomic PUT (s3rver) can show a record
// mid-write.
Result<std::string> ReadSettled(LeaseObject& object, Clock* clock) {
  Result<std::string> text = object.Read();
  for (int i = 0; i < 5; i++) {
    bool unsettled = text.ok() ? !DecodeLeaseRecord(*text) : text.status().retryable();
    if (!unsettled) break;
    clock->SleepFor(milliseconds(100));
    text = object.Read();
  }
  return text;
}

std::string Describe(const LeaseRecord& r) {
  return r.holder + " (host " + r.host + ", pid " + std::to_string(r.pid) + ")";
}

}  // namespace

std::string EncodeLeaseRecord(const LeaseRecord& r) {
  nlohmann::json j = {{"holder", r.holder},
                      {"host", r.host},
                      {"pid", r.pid},
                      {"token", r.token},
                      {"expires_unix_ms", r.expires_unix_ms}};
  return j.dump();
}

std::optional<LeaseRecord> DecodeLeaseRecord(std::string_view json) {
  nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  auto str = [&](const char* k) { return j.contains(k) && j[k].is_string(); };
  auto num = [&](const char* k) { return j.contains(k) && j[k].is_number_integer(); };
  if (!str("holder") || !str("host") || !num("pid") || !str("token") || !num("expires_unix_ms")) {
    return std::nullopt;
  }
  return LeaseRecord{j["holder"].get<std::string>(), j["host"].get<std::string>(),
                     j["pid"].get<int64_t>(), j["token"].get<std::string>(),
                     j["expires_unix_ms"].get<int64_t>()};
}

Result<std::unique_ptr<S3Lease>> S3Lease::Acquire(std::shared_ptr<LeaseObject> object,
                                                  const std::string& holder,
                                                  S3LeaseOptions options) {
  if (options.hostname.empty()) options.hostname = Hostname();
  const std::string store = object->StoreUrl();
  LeaseRecord mine{holder, options.hostname, static_cast<int64_t>(getpid()), RandomToken(), 0};
  // Each round either wins, fails, or removes a stale record and tries again;
  // a few rounds only run out when other processes keep taking it over.
  for (int round = 0; round < 4; round++) {
    mine.expires_unix_ms = NowUnixMs(options.clock) + options.ttl.count();
    Status s = object->Create(EncodeLeaseRecord(mine));
    if (s.ok()) {
      // The first renewal is timed from the create, before the thread starts.
      const auto first = options.clock->SteadyNow() + std::max(options.ttl / 3, milliseconds(1));
      std::unique_ptr<S3Lease> lease(new S3Lease(object, mine, std::move(options)));
      try {
        lease->renewer_ = std::thread([l = lease.get(), first] { l->RenewLoop(first); });
      } catch (const std::system_error& e) {
        object->Remove().PermitUnchecked();  // else it expires on its own
        return Status::IO("store " + store +
                          ": cannot start the lease renewal thread: " + e.what());
      }
      return lease;
    }
    if (!s.IsExists()) return s;
    Result<std::string> text = ReadSettled(*object, options.clock);
    if (text.status().IsNotFound()) continue;  // released in between
    if (!text.ok()) return text.status();
    std::optional<LeaseRecord> theirs = DecodeLeaseRecord(*text);
    if (!theirs) {
      return Status::Corruption("store " + store + ": the LOCK object is not a strata lease (\"" +
                                text->substr(0, 200) +
                                "\"); if no daemon uses the store, delete it");
    }
    const int64_t now = NowUnixMs(options.clock);
    const bool expired = now >= theirs->expires_unix_ms;
    const bool dead_here = theirs->host == options.hostname &&
                           theirs->pid != static_cast<int64_t>(getpid()) &&
                           !ProcessRuns(theirs->pid);
    if (!expired && !dead_here) {
      return Status::Busy("store " + store + " is already mounted by " + Describe(*theirs) +
                          "; its lease expires in " +
                          std::to_string((theirs->expires_unix_ms - now + 999) / 1000) + " s (at " +
                          FormatUnixMs(theirs->expires_unix_ms) + ") unless renewed");
    }
    // Delete only the record we judged: another taker may have replaced it.
    Result<std::string> again = ReadSettled(*object, options.clock);
    if (again.ok() && *again == *text) {
      spdlog::warn("store {}: taking over the lease of {} ({})", store, Describe(*theirs),
                   expired ? "expired" : "its process is gone");
      STRATA_RETURN_IF_ERROR(object->Remove());
    } else if (!again.ok() && !again.status().IsNotFound()) {
      return again.status();
    }
  }
  return Status::Busy("store " + store + ": the lease keeps changing hands; try again");
}

S3Lease::S3Lease(std::shared_ptr<LeaseObject> object, LeaseRecord record, S3LeaseOptions options)
    : object_(std::move(object)), options_(std::move(options)), record_(std::move(record)) {}

S3Lease::~S3Lease() {
  {
    MutexLock l(&mu_);
    stop_ = true;
  }
  cv_.SignalAll();
  if (!renewer_.joinable()) return;  // never started: Acquire failed
  renewer_.join();
  if (lost()) return;
  Result<std::string> text = object_->Read();
  if (!text.ok() && !text.status().IsNotFound()) {
    spdlog::warn("store {}: could not release the lease ({}); it expires on its own",
                 object_->StoreUrl(), text.status().ToString());
    return;
  }
  std::optional<LeaseRecord> current = text.ok() ? DecodeLeaseRecord(*text) : std::nullopt;
  if (!current || current->token != record_.token) return;
  if (Status s = object_->Remove(); !s.ok()) {
    spdlog::warn("store {}: could not release the lease ({}); it expires on its own",
                 object_->StoreUrl(), s.ToString());
  }
}

void S3Lease::MarkLost(const std::string& why) {
  spdlog::error("store {}: mount lease lost: {}", object_->StoreUrl(), why);
  lost_.store(true);
}

bool S3Lease::RenewOnce(bool* retry_soon) {
  *retry_soon = false;
  auto check_expiry = [&](const std::string& failure) {
    // Past our own expiry another process may rightly have taken the lease,
    // and renewing now could overwrite its record.
    if (NowUnixMs(options_.clock) < record_.expires_unix_ms) {
      spdlog::warn("store {}: lease renewal failed, retrying: {}", object_->StoreUrl(), failure);
      *retry_soon = true;
      return true;
    }
    MarkLost("it expired before it could be renewed (" + failure + ")");
    return false;
  };
  Result<std::string> text = object_->Read();
  if (text.status().IsNotFound()) {
    MarkLost("the LOCK object was deleted");
    return false;
  }
  if (!text.ok()) return check_expiry(text.status().ToString());
  std::optional<LeaseRecord> current = DecodeLeaseRecord(*text);
  if (!current || current->token != record_.token) {
    MarkLost(current ? "it is now held by " + Describe(*current) : "the LOCK object was replaced");
    return false;
  }
  if (NowUnixMs(options_.clock) >= record_.expires_unix_ms) {
    MarkLost("it expired before it could be renewed");
    return false;
  }
  LeaseRecord next = record_;
  next.expires_unix_ms = NowUnixMs(options_.clock) + options_.ttl.count();
  if (Status s = object_->Replace(EncodeLeaseRecord(next)); !s.ok()) {
    return check_expiry(s.ToString());
  }
  record_.expires_unix_ms = next.expires_unix_ms;
  return true;
}

bool S3Lease::WaitOrStop(std::chrono::steady_clock::time_point deadline) {
  return !cv_.WaitUntil(&mu_, options_.clock, deadline, [&]() REQUIRES(mu_) { return stop_; });
}

void S3Lease::RenewLoop(std::chrono::steady_clock::time_point first) {
  const milliseconds interval = std::max(options_.ttl / 3, milliseconds(1));
  const milliseconds retry = std::max(options_.ttl / 10, milliseconds(1));
  auto next = first;
  MutexLock l(&mu_);
  while (WaitOrStop(next)) {
    const auto started = options_.clock->SteadyNow();
    l.Unlock();
    bool retry_soon = false;
    const bool alive = RenewOnce(&retry_soon);
    l.Lock();
    if (!alive) return;
    next = started + (retry_soon ? retry : interval);
  }
}

}  // namespace strata
