// ReaderEpochs: a grace period for readers, in the spirit of SRCU.
//
// A reader holds a Guard while it uses anything it found through a shared
// structure (here: an index entry naming a layer object). A writer that has
// unpublished something calls Synchronize() before freeing it: it returns
// once every reader that could have seen the old state has left. Readers
// never block and never wait for writers; a reader that enters after the
// writer unpublished sees only the new state.
//
// Correctness: a reader increments counts_[e] (seq_cst) before it reads the
// shared structure. Synchronize flips the epoch and waits for the old
// epoch's count to drain. A reader that incremented the old count before the
// writer saw it drain is waited for; one whose increment comes later reads
// the structure after the writer's unpublish (seq_cst total order), and one
// that read the new epoch is new by definition. A reader that loaded the old
// epoch index but incremented late is the second case. Two flips are not
// needed because the writer unpublished before its first flip.
#pragma once

#include <atomic>
#include <cstdint>

#include "common/mutex.h"

namespace strata {

class ReaderEpochs {
 public:
  class Guard {
   public:
    explicit Guard(ReaderEpochs* e) : e_(e), slot_(e->Enter()) {}
    ~Guard() { e_->counts_[slot_].fetch_sub(1, std::memory_order_seq_cst); }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;

   private:
    ReaderEpochs* const e_;
    const int slot_;
  };

  Guard Read() { return Guard(this); }
  // Returns once every Guard taken before the call has been released.
  void Synchronize() EXCLUDES(sync_mu_);
  // Readers in either epoch now (for tests and metrics).
  int64_t Active() const { return counts_[0].load() + counts_[1].load(); }

 private:
  int Enter() {
    const int slot = epoch_.load(std::memory_order_seq_cst);
    counts_[slot].fetch_add(1, std::memory_order_seq_cst);
    return slot;
  }

  std::atomic<int> epoch_{0};
  std::atomic<int64_t> counts_[2] = {0, 0};
  // One Synchronize at a time: it owns the epoch flip. Readers never take
  // it. Lock order: a caller may hold its own locks (the version store's)
  // when it calls Synchronize, but no reader may wait for such a lock while
  // holding a Guard, or Synchronize would wait for it forever.
  Mutex sync_mu_;
};

}  // namespace strata
