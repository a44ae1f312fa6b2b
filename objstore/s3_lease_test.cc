#include "objstore/s3_lease.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <thread>

#include "common/clock.h"
#include "common/mutex.h"
#include "common/process_test_util.h"

namespace strata {
namespace {

using std::chrono::milliseconds;

// A LeaseObject in memory, with the conditional create S3 gives.
class MemoryLeaseObject : public LeaseObject {
 public:
  Result<std::string> Read() override {
    MutexLock l(&mu_);
    if (!data_) return Status::NotFound("no LOCK");
    if (torn_reads_ > 0) {
      torn_reads_--;
      return data_->substr(0, data_->size() / 2);
    }
    return *data_;
  }
  Status Create(std::string_view record) override {
    MutexLock l(&mu_);
    if (create_error_) return *create_error_;
    if (data_) return Status::Exists("LOCK exists");
    data_ = std::string(record);
    return Status::OK();
  }
  Status Replace(std::string_view record) override {
    MutexLock l(&mu_);
    data_ = std::string(record);
    return Status::OK();
  }
  Status Remove() override {
    MutexLock l(&mu_);
    data_.reset();
    return Status::OK();
  }
  std::string StoreUrl() const override { return "mem://store"; }

  void Set(const LeaseRecord& r) { ASSERT_TRUE(Replace(EncodeLeaseRecord(r)).ok()); }
  std::optional<LeaseRecord> Get() {
    Result<std::string> text = Read();
    return text.ok() ? DecodeLeaseRecord(*text) : std::nullopt;
  }
  void FailCreates(Status s) {
    MutexLock l(&mu_);
    create_error_ = std::move(s);
  }
  // The next `n` reads see half the record, as from a server without atomic PUT.
  void TearReads(int n) {
    MutexLock l(&mu_);
    torn_reads_ = n;
  }

 private:
  Mutex mu_;
  std::optional<std::string> data_ GUARDED_BY(mu_);
  std::optional<Status> create_error_ GUARDED_BY(mu_);
  int torn_reads_ GUARDED_BY(mu_) = 0;
};

// Waits for the renewer thread (up to a generous bound, so a slow machine
// only slows the test) until `done` holds. Time itself is a ManualClock's.
bool Eventually(const std::function<bool()>& done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

class S3LeaseTest : public ::testing::Test {
 protected:
  S3LeaseOptions Options(milliseconds ttl = milliseconds(30000)) {
    S3LeaseOptions o;
    o.ttl = ttl;
    o.hostname = "host-a";
    o.clock = &clock_;
    return o;
  }
  int64_t NowMs() { return clock_.NowNs() / 1'000'000; }
  // Waits for the renewer to write an expiry of `expires_unix_ms`.
  bool RenewedTo(int64_t expires_unix_ms) {
    return Eventually([&] {
      std::optional<LeaseRecord> r = obj_->Get();
      return r && r->expires_unix_ms == expires_unix_ms;
    });
  }

  ManualClock clock_;
  std::shared_ptr<MemoryLeaseObject> obj_ = std::make_shared<MemoryLeaseObject>();
};

TEST(LeaseRecordTest, RoundTripAndRejects) {
  LeaseRecord r{"mount /mnt/x", "h", 42, "tok", 1700000000123};
  std::optional<LeaseRecord> d = DecodeLeaseRecord(EncodeLeaseRecord(r));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->holder, r.holder);
  EXPECT_EQ(d->host, r.host);
  EXPECT_EQ(d->pid, r.pid);
  EXPECT_EQ(d->token, r.token);
  EXPECT_EQ(d->expires_unix_ms, r.expires_unix_ms);
  for (const char* bad : {"", "{", "[]", "{\"holder\":\"h\"}",
                          "{\"holder\":1,\"host\":\"h\",\"pid\":1,\"token\":\"t\","
                          "\"expires_unix_ms\":1}",
                          "{\"holder\":\"x\",\"host\":\"h\",\"pid\":1,\"token\":\"t\","
                          "\"expires_unix_ms\":\"soon\"}"}) {
    EXPECT_FALSE(DecodeLeaseRecord(bad).has_value()) << bad;
  }
}

TEST_F(S3LeaseTest, SecondAcquireIsBusyUntilReleased) {
  auto first = S3Lease::Acquire(obj_, "first holder", Options());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  std::optional<LeaseRecord> r = obj_->Get();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->holder, "first holder");
  EXPECT_EQ(r->host, "host-a");
  EXPECT_EQ(r->pid, getpid());
  EXPECT_EQ(r->token, (*first)->token());
  EXPECT_EQ(r->token.size(), 32u);

  auto second = S3Lease::Acquire(obj_, "second", Options());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::kBusy);
  const std::string& m = second.status().message();
  EXPECT_NE(m.find("store mem://store is already mounted by first holder (host host-a, pid " +
                   std::to_string(getpid()) + ")"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("expires in"), std::string::npos) << m;

  first->reset();
  EXPECT_FALSE(obj_->Get().has_value()) << "release deletes the record";
  auto third = S3Lease::Acquire(obj_, "third", Options());
  ASSERT_TRUE(third.ok()) << third.status().ToString();
}

TEST_F(S3LeaseTest, ExpiredLeaseIsTakenOver) {
  obj_->Set({"gone", "host-b", 1, "old-token", NowMs() - 1});
  auto lease = S3Lease::Acquire(obj_, "taker", Options());
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  EXPECT_EQ(obj_->Get()->token, (*lease)->token());
  EXPECT_EQ(obj_->Get()->holder, "taker");
}

TEST_F(S3LeaseTest, DeadProcessOnThisHostIsTakenOver) {
  const int64_t dead = testing::DeadPid();
  obj_->Set({"crashed", "host-b", dead, "t1", NowMs() + 600000});
  auto other_host = S3Lease::Acquire(obj_, "taker", Options());
  ASSERT_FALSE(other_host.ok()) << "a pid on another host cannot be checked";
  EXPECT_EQ(other_host.status().code(), Code::kBusy);

  obj_->Set({"crashed", "host-a", dead, "t2", NowMs() + 600000});
  auto lease = S3Lease::Acquire(obj_, "taker", Options());
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  EXPECT_EQ(obj_->Get()->holder, "taker");
}

TEST_F(S3LeaseTest, LiveProcessOnThisHostIsBusy) {
  obj_->Set({"parent", "host-a", getppid(), "t", NowMs() + 600000});
  auto lease = S3Lease::Acquire(obj_, "taker", Options());
  ASSERT_FALSE(lease.ok());
  EXPECT_EQ(lease.status().code(), Code::kBusy);
  EXPECT_NE(lease.status().message().find("parent (host host-a"), std::string::npos);
}

TEST_F(S3LeaseTest, ForeignRecordIsReportedNotTakenOver) {
  ASSERT_TRUE(obj_->Replace("hello").ok());
  auto lease = S3Lease::Acquire(obj_, "taker", Options());
  ASSERT_FALSE(lease.ok());
  EXPECT_EQ(lease.status().code(), Code::kCorruption);
  EXPECT_NE(lease.status().message().find("not a strata lease"), std::string::npos);
  EXPECT_EQ(*obj_->Read(), "hello");
}

TEST_F(S3LeaseTest, TornRecordIsReadAgain) {
  obj_->Set({"other", "host-b", 7, "t", NowMs() + 600000});
  obj_->TearReads(2);
  auto lease = S3Lease::Acquire(obj_, "taker", Options());
  ASSERT_FALSE(lease.ok());
  EXPECT_EQ(lease.status().code(), Code::kBusy) << lease.status().ToString();
}

TEST_F(S3LeaseTest, CreateErrorsPassThrough) {
  obj_->FailCreates(Status::IO("s3 lease create: 500", /*retryable=*/true));
  auto lease = S3Lease::Acquire(obj_, "taker", Options());
  ASSERT_FALSE(lease.ok());
  EXPECT_EQ(lease.status().code(), Code::kIO);
  EXPECT_TRUE(lease.status().retryable());
}

TEST_F(S3LeaseTest, RenewalMovesTheExpiryPastTheTtl) {
  const milliseconds ttl(300);
  const int64_t start = NowMs();
  auto lease = S3Lease::Acquire(obj_, "holder", Options(ttl));
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ(obj_->Get()->expires_unix_ms, start + ttl.count());
  // Renewed every ttl/3, well past the first expiry, with the same token
  // throughout.
  for (int round = 1; round <= 9; round++) {
    clock_.Advance(ttl / 3);
    ASSERT_TRUE(RenewedTo(NowMs() + ttl.count())) << "round " << round;
    EXPECT_EQ(obj_->Get()->token, (*lease)->token());
  }
  EXPECT_GT(obj_->Get()->expires_unix_ms, start + 3 * ttl.count());
  EXPECT_FALSE((*lease)->lost());
}

TEST_F(S3LeaseTest, LostWhenItExpiresBeforeRenewal) {
  const milliseconds ttl(300);
  auto lease = S3Lease::Acquire(obj_, "holder", Options(ttl));
  ASSERT_TRUE(lease.ok());
  const LeaseRecord before = *obj_->Get();
  clock_.Advance(ttl);  // the renewer wakes only after its own expiry
  EXPECT_TRUE(Eventually([&] { return (*lease)->lost(); }));
  EXPECT_EQ(obj_->Get()->expires_unix_ms, before.expires_unix_ms) << "not renewed once expired";
}

TEST_F(S3LeaseTest, LostWhenAnotherProcessTakesOver) {
  auto lease = S3Lease::Acquire(obj_, "holder", Options(milliseconds(300)));
  ASSERT_TRUE(lease.ok());
  obj_->Set({"thief", "host-b", 7, "their-token", NowMs() + 600000});
  clock_.Advance(milliseconds(100));  // the next renewal
  EXPECT_TRUE(Eventually([&] { return (*lease)->lost(); }));
  lease->reset();
  ASSERT_TRUE(obj_->Get().has_value()) << "a lost lease must not delete the new holder's record";
  EXPECT_EQ(obj_->Get()->token, "their-token");
}

TEST_F(S3LeaseTest, LostWhenTheRecordIsDeleted) {
  auto lease = S3Lease::Acquire(obj_, "holder", Options(milliseconds(300)));
  ASSERT_TRUE(lease.ok());
  ASSERT_TRUE(obj_->Remove().ok());
  clock_.Advance(milliseconds(100));  // the next renewal
  EXPECT_TRUE(Eventually([&] { return (*lease)->lost(); }));
}

}  // namespace
}  // namespace strata
