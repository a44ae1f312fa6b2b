#include "common/reader_epochs.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace strata {
namespace {

TEST(ReaderEpochs, SynchronizeWithoutReadersReturns) {
  ReaderEpochs e;
  e.Synchronize();
  e.Synchronize();
  EXPECT_EQ(e.Active(), 0);
}

TEST(ReaderEpochs, SynchronizeWaitsForAnEarlierReader) {
  ReaderEpochs e;
  std::atomic<bool> released{false};
  std::atomic<bool> synced{false};
  auto guard = std::make_unique<ReaderEpochs::Guard>(&e);
  std::thread writer([&] {
    e.Synchronize();
    synced = true;
    EXPECT_TRUE(released.load());
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(synced.load());
  released = true;
  guard.reset();
  writer.join();
  EXPECT_TRUE(synced.load());
}

// Many readers and a writer that "frees" a published pointer after
// Synchronize: a reader must never see a freed object.
TEST(ReaderEpochs, NoReaderSeesAFreedObject) {
  ReaderEpochs e;
  struct Obj {
    std::atomic<bool> freed{false};
  };
  std::vector<std::unique_ptr<Obj>> objs;
  for (int i = 0; i < 200; i++) objs.push_back(std::make_unique<Obj>());
  std::atomic<Obj*> published{objs[0].get()};
  std::atomic<bool> stop{false};
  std::atomic<int> violations{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; r++) {
    readers.emplace_back([&] {
      while (!stop) {
        auto g = e.Read();
        Obj* o = published.load();
        for (int spin = 0; spin < 50; spin++) {
          if (o->freed.load()) violations++;
        }
      }
    });
  }
  for (size_t i = 1; i < objs.size(); i++) {
    Obj* old = published.exchange(objs[i].get());
    e.Synchronize();
    old->freed = true;  // "delete": any reader still holding it would see this
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(violations.load(), 0);
}

}  // namespace
}  // namespace strata
