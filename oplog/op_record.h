// OpRecord: one mutation of one branch, as carried by the op log.
//
// A record is physical: the set of keyspace puts (and tombstones) that one
// filesystem operation made, all under one seq. Replaying records in order
// rebuilds the memtable exactly. Byte format: docs/oplog-format.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace strata {

struct KeyPut {
  std::string key;         // keyspace key (layers/key.h), without branch or seq
  bool tombstone = false;  // hides older versions of key; value is empty
  std::string value;
};

struct OpRecord {
  uint32_t branch = 0;
  uint64_t seq = 0;
  uint64_t time_ns = 0;  // wall clock (CLOCK_REALTIME) when the seq was assigned
  std::vector<KeyPut> puts;
};

// Frame: magic u8 | body length u32 | checksum u32 | body. All integers are
// little-endian; the checksum is the low 32 bits of XXH64(body, seed 0).
inline constexpr uint8_t kOpRecordMagic = 0xA1;  // also the record type (1)
inline constexpr size_t kOpRecordHeaderBytes = 1 + 4 + 4;
// A larger length field is corruption, not a record still being written.
inline constexpr uint32_t kOpRecordMaxBodyBytes = 64u << 20;
// KeyPut flags byte; every other bit must be zero.
inline constexpr uint8_t kOpPutTombstone = 0x01;

// The frame checksum of `n` body bytes (also used by the walsink protocol).
uint32_t OpFrameChecksum(const char* body, size_t n);

// Appends the framed encoding of `rec` to `dst`. The body must not exceed
// kOpRecordMaxBodyBytes; a tombstone's value must be empty (it is not written).
void EncodeOpRecord(const OpRecord& rec, std::string* dst);

// Decodes one framed record from the front of `in`. On success sets *rec and
// *consumed (the frame size). Returns kNotFound if `in` holds only a prefix of
// a plausible frame (a torn tail, or empty input), kCorruption if the magic or
// length is impossible or the frame is complete but its checksum or contents
// are wrong. Never reads outside `in`, whatever its bytes.
Status DecodeOpRecord(std::string_view in, OpRecord* rec, size_t* consumed);

// The branch and seq of a frame without decoding the puts; false if the
// frame is too short to hold them.
bool PeekOpRecordId(std::string_view frame, uint32_t* branch, uint64_t* seq);

}  // namespace strata
