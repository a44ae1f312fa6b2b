// Service: the operations of the control protocol, from a JSON request to a
// JSON answer (docs/control-protocol.md).
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "layers/version_store.h"
#include "objstore/object_store.h"
#include "snapshot/branch_manager.h"
#include "walsink/sink.h"

namespace strata {

struct ServiceContext {
  ObjectStore* store = nullptr;
  Sink* sink = nullptr;
  VersionStore* versions = nullptr;
  Catalog* catalog = nullptr;
  BranchManager* branches = nullptr;
  std::string mountpoint;
  std::string cache_dir;
  // {"l2": ..., "l3": ...} of the object-store stack; merged into status.cache.
  std::function<nlohmann::json()> store_stats;
  // The op log's shipping to a walsink server; null when there is none.
  std::function<nlohmann::json()> sink_stats;
};

class Service {
 public:
  explicit Service(ServiceContext ctx) : ctx_(std::move(ctx)) {}
  // One request line -> one answer line. Never throws.
  std::string Handle(const std::string& request);

 private:
  ServiceContext ctx_;
};

}  // namespace strata
