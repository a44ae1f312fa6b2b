#include "common/reader_epochs.h"

#include <chrono>
#include <thread>

namespace strata {

void ReaderEpochs::Synchronize() {
  MutexLock lock(&sync_mu_);
  const int old = epoch_.load(std::memory_order_seq_cst);
  epoch_.store(1 - old, std::memory_order_seq_cst);
  // Readers hold a guard for one key lookup or one scan: microseconds to
  // milliseconds. Spin briefly, then sleep.
  for (int spins = 0; counts_[old].load(std::memory_order_seq_cst) != 0; spins++) {
    if (spins < 100) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
}

}  // namespace strata
