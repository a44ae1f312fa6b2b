// NodeRegistry: which strata daemons ("nodes") share an object store.
//
// Each node keeps one record, "nodes/<id>.json", a JSON object (NodeRecord)
// with its addresses, its current load, and a wall-clock expiry. Only the node
// itself writes its record, with a plain Put; a background thread rewrites it
// every ttl/3 with a new heartbeat and expiry (now + ttl). Other nodes read
// the records (List, Read) and judge a node alive while their own wall clock
// is before its expiry (NodeAlive).
//
// The id is stable across restarts (kept by the caller, e.g. 12 lowercase hex
// digits in a local file); the incarnation is new with each process start, so
// whatever a node held (branch leases name node and incarnation) is known to be
// abandoned once the same id comes back with another incarnation.
//
// Register refuses an id whose record is still alive under another
// incarnation, unless the record names this host and a pid that no longer
// runs (a crashed daemon here). The check is read-then-Put, not atomic: two
// processes started at once with the same id can both pass it. Ids are unique
// by configuration; the check catches a second daemon started by mistake.
//
// Self-fencing (Alive): a node must stop acting as a member (stop writing the
// branches it leases) before any other node can judge it dead. A renewal that
// starts at steady time S writes expires = (wall time at S or later) + ttl, so
// another node can judge us dead no earlier than S + ttl by its clock. We
// treat ourselves as dead from S + 2/3 ttl unless a later renewal succeeded,
// which leaves ttl/3 for clock skew between hosts and for writes already in
// flight when we stop. Renewals are every ttl/3, so one failed or slow
// renewal is survived; two are not. Once Alive() is false it stays false, and
// the renewer stops, so the record expires and the node's leases can be taken
// over; the process must register again (a new incarnation) to rejoin.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/mutex.h"
#include "common/status.h"
#include "objstore/object_store.h"

namespace strata {

struct NodeRecord {
  std::string id;           // stable across restarts; ValidNodeId
  std::string incarnation;  // 16 random hex digits, new with each process start
  std::string host;
  int64_t pid = 0;
  std::string mountpoint;
  std::string proxy_addr;
  // SHA-256 fingerprint of the proxy's TLS certificate (TlsContext::fingerprint's
  // format); empty when the proxy has no TLS. Another daemon's proxy pins it
  // when it relays a session here (docs/proxy.md). Absent in older records.
  std::string proxy_tls;
  std::string api_addr;
  int64_t started_ns = 0;       // wall clock, when this incarnation registered
  int64_t heartbeat_ns = 0;     // wall clock, when the record was last written
  int64_t expires_unix_ms = 0;  // wall clock; dead from then on unless rewritten
  int64_t ttl_ms = 0;
  nlohmann::json load = nlohmann::json::object();  // whatever the node reports
};

// "nodes/<id>.json".
std::string NodeKey(const std::string& id);
// 1-64 characters of [a-z0-9-], not starting with '-'.
bool ValidNodeId(std::string_view id);

// A compact JSON object.
std::string EncodeNodeRecord(const NodeRecord& record);
// nullopt unless `json` is an object with every field of the right type
// (`load` an object).
std::optional<NodeRecord> DecodeNodeRecord(std::string_view json);

// Whether a reader whose wall clock reads `now_unix_ms` may count the node alive.
bool NodeAlive(const NodeRecord& record, int64_t now_unix_ms);

struct NodeRegistryOptions {
  // How long a record lives without renewal. Renewed every ttl/3.
  std::chrono::milliseconds ttl{10000};
  // Heartbeats and expiries (wall clock), the renewal schedule and Alive()
  // (steady clock). The renewer checks it at least every ttl/10 of real
  // time, so a ManualClock's Advance is seen that soon.
  Clock* clock = Clock::Real();
  // Optional; called at registration and at each renewal, on the renewer
  // thread, for NodeRecord::load. It must not call into the registry.
  std::function<nlohmann::json()> load;
};

class NodeRegistry {
 public:
  // Registers `self` (id and addresses set by the caller; an empty
  // incarnation or host and a zero pid are filled in) and starts renewing.
  // kInvalid for a bad id or ttl; kBusy naming the holder if the id is in use
  // (see the top of this file).
  static Result<std::unique_ptr<NodeRegistry>> Register(ObjectStore* store, NodeRecord self,
                                                        NodeRegistryOptions options = {});
  // Deregister().
  ~NodeRegistry();

  NodeRegistry(const NodeRegistry&) = delete;
  NodeRegistry& operator=(const NodeRegistry&) = delete;

  // Whether this node may still act as a member (self-fencing, see the top).
  // Never goes back from false; false after Deregister().
  bool Alive() const;
  // The record as registered: its id, incarnation, host, pid, mountpoint,
  // started_ns and ttl_ms never change; addresses, heartbeat, expiry and
  // load are those of the first write (SetAddresses changes the stored ones).
  const NodeRecord& self() const { return self_; }

  // Changes the proxy and API addresses (and the proxy certificate's
  // fingerprint) the record gives, known only once the listeners are bound,
  // after the node registered; rewrites the record now.
  Status SetAddresses(std::string proxy_addr, std::string api_addr, std::string proxy_tls = "")
      EXCLUDES(addr_mu_);

  // Stops renewing and deletes the record if it is still this incarnation's
  // (after an expiry another process may have registered the id). Safe to
  // call more than once, but not from two threads at once.
  void Deregister() EXCLUDES(mu_);

  // Every record under "nodes/", sorted by id. Records that never decode, or
  // whose id disagrees with their key, are skipped with a warning; a record
  // deleted between the LIST and its GET is skipped. `clock` times the
  // pauses between re-reads of a torn record.
  static Result<std::vector<NodeRecord>> List(ObjectStore* store, Clock* clock = Clock::Real());
  // The record of `id`; nullopt if there is none, kInvalid for a bad id,
  // kCorruption if it never decodes or names another id.
  static Result<std::optional<NodeRecord>> Read(ObjectStore* store, const std::string& id,
                                                Clock* clock = Clock::Real());

 private:
  NodeRegistry(ObjectStore* store, NodeRecord self, NodeRegistryOptions options);

  // Writes the record with a fresh heartbeat, expiry and load. `started` is
  // the steady time read before anything else of the attempt; on success it
  // becomes the start of the last successful renewal.
  Status WriteRecord(std::chrono::steady_clock::time_point started) EXCLUDES(mu_, addr_mu_);
  // Renews at `first`, then ttl/3 (ttl/10 after a failure) after the start of
  // each renewal, until stopped or no longer Alive().
  void RenewLoop(std::chrono::steady_clock::time_point first) EXCLUDES(mu_);
  // Waits until the clock reaches `deadline`; false if stopped first.
  bool WaitOrStop(std::chrono::steady_clock::time_point deadline) REQUIRES(mu_);
  // Latches Alive() to false; logs `why` (if not empty) the first time.
  void Fence(const std::string& why) const;
  void DeleteOwnRecord();

  ObjectStore* const store_;
  const NodeRecord self_;
  const NodeRegistryOptions options_;

  // Read by Alive() from any thread, written by the renewer: atomics, no lock.
  // The steady time (ns since its epoch) at which the last successful write
  // of the record started.
  std::atomic<int64_t> last_renewal_start_ns_{0};
  mutable std::atomic<bool> fenced_{false};

  // The addresses SetAddresses gave; a leaf, held only to copy them.
  Mutex addr_mu_;
  std::string proxy_addr_ GUARDED_BY(addr_mu_);
  std::string api_addr_ GUARDED_BY(addr_mu_);
  std::string proxy_tls_ GUARDED_BY(addr_mu_);

  // Guards stop_ only, and is never held across a store call or the load
  // callback: a leaf. Deregister (and so the destructor) joins the renewer,
  // so it must not run on the renewer thread (from the load callback).
  Mutex mu_;
  CondVar cv_;
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread renewer_;
};

}  // namespace strata
