// SinkWrapper: a Sink that forwards every call to another one. Subclass it and
// override only what you change (fault injection, metrics, tracing).
#pragma once

#include <memory>
#include <utility>

#include "oplog/sink.h"

namespace strata {

class SinkWrapper : public Sink {
 public:
  explicit SinkWrapper(std::unique_ptr<Sink> base) : base_(std::move(base)) {}

  Result<uint64_t> Append(const OpRecord& rec) override { return base_->Append(rec); }
  Status Sync(uint64_t token) override { return base_->Sync(token); }
  uint64_t Tail() override { return base_->Tail(); }
  Status Replay(const std::function<Status(const OpRecord&)>& fn) override {
    return base_->Replay(fn);
  }
  Status Trim(uint32_t branch, uint64_t seq) override { return base_->Trim(branch, seq); }
  SinkStats Stats() override { return base_->Stats(); }
  Status Barrier(uint64_t token, Durability tier) override { return base_->Barrier(token, tier); }
  uint64_t AckedSeq(uint32_t branch) override { return base_->AckedSeq(branch); }
  Status ReadFrames(uint64_t from, size_t max_bytes, std::string* frames, uint64_t* first,
                    uint64_t* next) override {
    return base_->ReadFrames(from, max_bytes, frames, first, next);
  }

  bool Shared() const override { return base_->Shared(); }
  Status TakeOver(uint32_t branch, uint64_t epoch, uint64_t after,
                  const std::function<Status(const OpRecord&)>& fn) override {
    return base_->TakeOver(branch, epoch, after, fn);
  }
  Status Disown(uint32_t branch) override { return base_->Disown(branch); }
  std::vector<uint32_t> BranchesInLog() override { return base_->BranchesInLog(); }
  void Start() override { base_->Start(); }

  Sink* base() { return base_.get(); }

 private:
  std::unique_ptr<Sink> base_;
};

}  // namespace strata
