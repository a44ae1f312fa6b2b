// Fixed-width integer encoding for on-disk and on-wire formats.
//
// Record and layer bodies are little-endian (Put/GetFixed*). Keys that must
// sort numerically in byte order (RocksDB, memtable) use big-endian
// (PutBig*/GetBig*).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace strata {

inline void PutFixed16(std::string* dst, uint16_t v) {
  const char buf[2] = {static_cast<char>(v), static_cast<char>(v >> 8)};
  dst->append(buf, 2);
}

inline uint16_t DecodeFixed16(const char* p) {
  return static_cast<uint16_t>(static_cast<uint8_t>(p[0]) | (static_cast<uint8_t>(p[1]) << 8));
}

inline void PutFixed32(std::string* dst, uint32_t v) {
  char buf[4];
  for (int i = 0; i < 4; i++) buf[i] = static_cast<char>(v >> (8 * i));
  dst->append(buf, 4);
}

inline void PutFixed64(std::string* dst, uint64_t v) {
  char buf[8];
  for (int i = 0; i < 8; i++) buf[i] = static_cast<char>(v >> (8 * i));
  dst->append(buf, 8);
}

inline uint32_t DecodeFixed32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v |= static_cast<uint32_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

inline uint64_t DecodeFixed64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

inline void PutBig32(std::string* dst, uint32_t v) {
  char buf[4];
  for (int i = 0; i < 4; i++) buf[i] = static_cast<char>(v >> (8 * (3 - i)));
  dst->append(buf, 4);
}

inline void PutBig64(std::string* dst, uint64_t v) {
  char buf[8];
  for (int i = 0; i < 8; i++) buf[i] = static_cast<char>(v >> (8 * (7 - i)));
  dst->append(buf, 8);
}

inline uint32_t DecodeBig32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

inline uint64_t DecodeBig64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

// Bounds-checked sequential reader over a byte buffer. Every Get returns false
// instead of reading past the end, so decoders of untrusted bytes stay safe.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}

  bool GetFixed32(uint32_t* v) {
    if (data_.size() < 4) return false;
    *v = DecodeFixed32(data_.data());
    data_.remove_prefix(4);
    return true;
  }
  bool GetFixed64(uint64_t* v) {
    if (data_.size() < 8) return false;
    *v = DecodeFixed64(data_.data());
    data_.remove_prefix(8);
    return true;
  }
  bool GetByte(uint8_t* v) {
    if (data_.empty()) return false;
    *v = static_cast<uint8_t>(data_[0]);
    data_.remove_prefix(1);
    return true;
  }
  bool GetBytes(size_t n, std::string_view* out) {
    if (data_.size() < n) return false;
    *out = data_.substr(0, n);
    data_.remove_prefix(n);
    return true;
  }
  size_t remaining() const { return data_.size(); }
  std::string_view rest() const { return data_; }

 private:
  std::string_view data_;
};

}  // namespace strata
