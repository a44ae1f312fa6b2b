#include "oplog/op_record.h"

#include <xxhash.h>

#include <cassert>
#include <cstring>

#include "common/coding.h"

namespace strata {

namespace {

// Fixed header of the body: branch u32, seq u64, time_ns u64, put count u32.
constexpr size_t kBodyHeaderSize = 4 + 8 + 8 + 4;
// Smallest possible put: key length u32, flags u8, value length u32.
constexpr size_t kMinPutSize = 4 + 1 + 4;

}  // namespace

uint32_t OpFrameChecksum(const char* p, size_t n) {
  // Low 32 bits of XXH64 (seed 0): XXH64 runs at memory speed on 64-bit CPUs,
  // faster than XXH32 on the 1 MiB records that dominate, and 32 bits are
  // plenty to catch media errors and torn writes in one frame.
  return static_cast<uint32_t>(XXH64(p, n, 0));
}

namespace {

#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
// Lets the fuzzer reach the body parser past the checksum (op_record_fuzz.cc).
constexpr bool kVerifyChecksum = false;
#else
constexpr bool kVerifyChecksum = true;
#endif

std::string Hex(uint32_t v) {
  char buf[16];
  snprintf(buf, sizeof(buf), "%08x", v);
  return buf;
}

}  // namespace

void EncodeOpRecord(const OpRecord& rec, std::string* dst) {
  size_t body = kBodyHeaderSize;
  for (const KeyPut& p : rec.puts) {
    assert(!p.tombstone || p.value.empty());
    body += kMinPutSize + p.key.size() + (p.tombstone ? 0 : p.value.size());
  }

  // One reservation, then appends only: the hot case is a 1 MiB record, where
  // anything but memcpy + one hash pass would show up in profiles.
  const size_t frame_start = dst->size();
  dst->reserve(frame_start + kOpRecordHeaderBytes + body);
  dst->push_back(static_cast<char>(kOpRecordMagic));
  PutFixed32(dst, static_cast<uint32_t>(body));
  PutFixed32(dst, 0);  // checksum, patched below once the body is in place
  const size_t body_start = dst->size();
  PutFixed32(dst, rec.branch);
  PutFixed64(dst, rec.seq);
  PutFixed64(dst, rec.time_ns);
  PutFixed32(dst, static_cast<uint32_t>(rec.puts.size()));
  for (const KeyPut& p : rec.puts) {
    PutFixed32(dst, static_cast<uint32_t>(p.key.size()));
    dst->append(p.key);
    dst->push_back(static_cast<char>(p.tombstone ? kOpPutTombstone : 0));
    if (p.tombstone) {
      PutFixed32(dst, 0);  // a tombstone never carries a value
    } else {
      PutFixed32(dst, static_cast<uint32_t>(p.value.size()));
      dst->append(p.value);
    }
  }
  const uint32_t crc = OpFrameChecksum(dst->data() + body_start, dst->size() - body_start);
  char* hdr = dst->data() + frame_start + 5;
  for (int i = 0; i < 4; i++) hdr[i] = static_cast<char>(crc >> (8 * i));
}

Status DecodeOpRecord(std::string_view in, OpRecord* rec, size_t* consumed) {
  // Order matters: a frame whose header is readable but whose body is not yet
  // all there is a torn tail (kNotFound) unless the header itself is already
  // impossible, which no writer could have produced (kCorruption).
  if (in.empty()) return Status::NotFound("op record: empty input");
  if (static_cast<uint8_t>(in[0]) != kOpRecordMagic) {
    return Status::Corruption("op record: bad magic byte 0x" +
                              Hex(static_cast<uint8_t>(in[0])).substr(6));
  }
  if (in.size() < kOpRecordHeaderBytes) {
    return Status::NotFound("op record: partial header (" + std::to_string(in.size()) + " bytes)");
  }
  const uint32_t body_len = DecodeFixed32(in.data() + 1);
  const uint32_t stored_crc = DecodeFixed32(in.data() + 5);
  if (body_len < kBodyHeaderSize || body_len > kOpRecordMaxBodyBytes) {
    return Status::Corruption("op record: impossible body length " + std::to_string(body_len));
  }
  if (in.size() - kOpRecordHeaderBytes < body_len) {
    return Status::NotFound("op record: partial body (" +
                            std::to_string(in.size() - kOpRecordHeaderBytes) + " of " +
                            std::to_string(body_len) + " bytes)");
  }
  const std::string_view body = in.substr(kOpRecordHeaderBytes, body_len);
  const uint32_t crc = OpFrameChecksum(body.data(), body.size());
  if (crc != stored_crc && kVerifyChecksum) {
    return Status::Corruption("op record: checksum mismatch (stored " + Hex(stored_crc) +
                              ", computed " + Hex(crc) + ", body " + std::to_string(body_len) +
                              " bytes)");
  }

  // The checksum matched, so everything below failing means a writer bug or a
  // checksum collision; still never trust a length.
  Reader r(body);
  OpRecord out;
  uint32_t count = 0;
  if (!r.GetFixed32(&out.branch) || !r.GetFixed64(&out.seq) || !r.GetFixed64(&out.time_ns) ||
      !r.GetFixed32(&count)) {
    return Status::Corruption("op record: short body header");
  }
  if (count > r.remaining() / kMinPutSize) {
    return Status::Corruption("op record: put count " + std::to_string(count) + " cannot fit in " +
                              std::to_string(r.remaining()) + " bytes");
  }
  out.puts.resize(count);
  for (uint32_t i = 0; i < count; i++) {
    KeyPut& p = out.puts[i];
    uint32_t klen = 0, vlen = 0;
    uint8_t flags = 0;
    std::string_view key, value;
    if (!r.GetFixed32(&klen) || !r.GetBytes(klen, &key) || !r.GetByte(&flags) ||
        !r.GetFixed32(&vlen) || !r.GetBytes(vlen, &value)) {
      return Status::Corruption("op record: put " + std::to_string(i) + " runs past the body");
    }
    if ((flags & ~kOpPutTombstone) != 0) {
      return Status::Corruption("op record: put " + std::to_string(i) + " has unknown flags 0x" +
                                Hex(flags).substr(6));
    }
    p.tombstone = (flags & kOpPutTombstone) != 0;
    if (p.tombstone && vlen != 0) {
      return Status::Corruption("op record: tombstone put " + std::to_string(i) +
                                " carries a value");
    }
    p.key.assign(key);
    p.value.assign(value);
  }
  if (r.remaining() != 0) {
    return Status::Corruption("op record: " + std::to_string(r.remaining()) +
                              " trailing bytes inside the body");
  }
  *rec = std::move(out);
  *consumed = kOpRecordHeaderBytes + body_len;
  return Status::OK();
}

bool PeekOpRecordId(std::string_view frame, uint32_t* branch, uint64_t* seq) {
  if (frame.size() < kOpRecordHeaderBytes + 12) return false;
  *branch = DecodeFixed32(frame.data() + kOpRecordHeaderBytes);
  *seq = DecodeFixed64(frame.data() + kOpRecordHeaderBytes + 4);
  return true;
}

}  // namespace strata
