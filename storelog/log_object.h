// LogObject: a run of one branch's op-log records kept as an object in the
// store, the durable log of `--sink store` (oplog/store_sink.h). Byte format:
// docs/oplog-format.md, "Log objects".
//
// A branch's log objects are numbered 1, 2, 3, ... under
// `oplog/<branch>/<number, 20 digits>.log`, each written once with
// PutIfAbsent. A writer writes the number after its last one, so one number
// can be taken by one writer only: a new holder that writes a fence at the
// next free number makes every later write of the earlier holder fail.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "oplog/op_record.h"

namespace strata {

inline constexpr std::string_view kLogObjectRoot = "oplog/";
inline constexpr size_t kLogObjectHeaderBytes = 48;
inline constexpr size_t kLogObjectTrailerBytes = 8;

enum class LogObjectKind : uint8_t {
  kRecords = 1,  // records of the branch, in seq order
  kFence = 2,    // no records: a new holder's claim on the numbers after it
};

struct LogObject {
  LogObjectKind kind = LogObjectKind::kRecords;
  uint32_t branch = 0;
  uint64_t epoch = 0;      // the writer's lease epoch on the branch
  uint64_t first_seq = 0;  // 0 for a fence
  // A fence: the highest seq of the branch's log before it (every record
  // in an object before it is at or below this).
  uint64_t last_seq = 0;
  uint32_t count = 0;  // records
  std::string frames;  // the records' frames (docs/oplog-format.md), back to back
};

// "oplog/<branch>/"
std::string LogObjectPrefix(uint32_t branch);
// "oplog/<branch>/<number, 20 digits>.log"
std::string LogObjectKey(uint32_t branch, uint64_t number);
// Parses a key LogObjectKey made; false for any other key.
bool ParseLogObjectKey(std::string_view key, uint32_t* branch, uint64_t* number);

std::string EncodeLogObject(const LogObject& obj);
// Checks the checksum, the header and every frame (each must be of the
// header's branch, seqs rising from first_seq to last_seq, `count` of them).
// kCorruption naming `key` otherwise.
Result<LogObject> DecodeLogObject(std::string_view data, const std::string& key);
// The header alone (its first kLogObjectHeaderBytes bytes; frames empty),
// for deciding whether an object may go without reading it all. Nothing is
// checked but the magic, version and kind: kCorruption naming `key` otherwise.
Result<LogObject> DecodeLogObjectHeader(std::string_view header, const std::string& key);
// Calls fn on each record of a decoded object, in order.
Status ForEachLogRecord(const LogObject& obj, const std::function<Status(const OpRecord&)>& fn);

}  // namespace strata
