#include "cluster/settled_read.h"

namespace strata::cluster_internal {

Result<std::string> GetSettled(ObjectStore* store, const std::string& key, Clock* clock,
                               const std::function<bool(std::string_view)>& whole) {
  Result<std::string> text = store->Get(key);
  for (int i = 0; i < kSettleRetries && text.ok() && !whole(*text); i++) {
    clock->SleepFor(kSettlePause);
    text = store->Get(key);
  }
  return text;
}

}  // namespace strata::cluster_internal
