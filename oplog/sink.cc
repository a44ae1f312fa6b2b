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

Status ReplayLocalExcept(Sink* local, size_t batch_bytes,
                         const std::function<bool(uint32_t branch, uint64_t end)>& skip,
                         const std::function<Status(const OpRecord&)>& fn, uint64_t* skipped) {
  for (uint64_t from = 0;;) {
    std::string frames;
    uint64_t first = 0, next = 0;
    STRATA_RETURN_IF_ERROR(local->ReadFrames(from, batch_bytes, &frames, &first, &next));
    if (frames.empty()) return Status::OK();
    for (size_t off = 0; off < frames.size();) {
      OpRecord rec;
      size_t used = 0;
      STRATA_RETURN_IF_ERROR(DecodeOpRecord(std::string_view(frames).substr(off), &rec, &used));
      off += used;
      if (skip(rec.branch, first + off)) {
        (*skipped)++;
      } else {
        STRATA_RETURN_IF_ERROR(fn(rec));
      }
    }
    from = next;
  }
}

}  // namespace strata
