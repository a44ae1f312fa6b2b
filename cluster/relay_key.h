// The relay key: a secret every daemon of one store shares, with which one
// daemon's proxy proves to another's that it authenticated the client it
// relays (docs/proxy.md, "Relay between daemons").
//
// It lives in the store as "cluster/relay-key": 64 lowercase hex digits (32
// random bytes), written once with PutIfAbsent by the first daemon that needs
// it and never changed. Whoever can read the store can read it; store access
// is already the trust root of a cluster (it holds every page).
//
// Stateless: thread-safe as long as the store is.
#pragma once

#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "objstore/object_store.h"

namespace strata {

inline constexpr const char* kRelayKeyKey = "cluster/relay-key";

// The store's relay key as raw bytes (32), creating it if the store has none.
// kCorruption naming the object if it is not 64 hex digits.
Result<std::string> LoadRelayKey(ObjectStore* store, Clock* clock = Clock::Real());

}  // namespace strata
