#include "oplog/sink.h"

namespace strata {

const char* DurabilityName(Durability d) {
  switch (d) {
    case Durability::kRemote:
      return "remote";
    case Durability::kLocal:
      return "local";
    case Durability::kEphemeral:
      return "ephemeral";
  }
  return "unknown";
}

Result<Durability> ParseDurability(std::string_view s) {
  for (Durability d : {Durability::kRemote, Durability::kLocal, Durability::kEphemeral}) {
    if (s == DurabilityName(d)) return d;
  }
  return Status::Invalid("unknown durability '" + std::string(s) +
                         "' (choose remote, local or ephemeral)");
}

}  // namespace strata
