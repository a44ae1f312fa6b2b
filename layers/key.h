// Keys of the versioned keyspace. Content and namespace share one keyspace,
// so the namespace branches exactly like content (docs/design.md, "key").
//
// A key is `ino (u64 big-endian) | kind (u8) | suffix`:
//   kAttr     suffix empty                 value: InodeAttr (layers/inode.h)
//   kDirent   name bytes + '\0'            value: child ino u64 LE + file type u32 LE
//   kPage     block number, u64 big-endian value: one page (kPageSize bytes)
//   kSymlink  suffix empty                 value: the link target
// For kPage the leading u64 is the inode's data_id, not its ino: truncating a
// file to zero gives it a fresh data_id, which hides every old page at once.
//
// Inode numbers are (branch id << 40) | counter, so inodes a branch creates
// never collide with those it inherited from its ancestors. That leaves 24
// bits for the branch id (kMaxInoBranch) and 40 for the counter.
//
// Ino 0 is never an inode: its keys are bookkeeping for garbage collection
// (docs/gc.md), invisible to the filesystem, and sort before every inode:
//   kDead     suffix data_id (u64 BE)      value: empty. Every page of that
//             data id this branch wrote before this seq is superseded here
//             (the file was truncated to zero or its inode purged).
//   kOrphan   suffix ino (u64 BE)          value: empty; tombstoned on purge.
//             The inode lost its last name while it may still be open.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/coding.h"

namespace strata {

constexpr uint32_t kPageSize = 8192;
constexpr int kInoBranchShift = 40;
// The largest branch id MakeIno can hold: 2^24 - 1. A larger id would lose
// its top bits and collide with another branch's inode numbers, so
// BranchManager refuses to hand one out (kNoSpace).
constexpr uint32_t kMaxInoBranch = (1u << (64 - kInoBranchShift)) - 1;
constexpr uint64_t kRootCounter = 1;  // counter of a root branch's top directory

enum class KeyKind : uint8_t {
  kAttr = 1,
  kDirent = 2,
  kPage = 3,
  kSymlink = 4,
  kDead = 5,
  kOrphan = 6
};

// REQUIRES: branch <= kMaxInoBranch, counter < 2^40.
inline uint64_t MakeIno(uint32_t branch, uint64_t counter) {
  return (static_cast<uint64_t>(branch) << kInoBranchShift) | counter;
}
inline uint32_t InoBranch(uint64_t ino) { return static_cast<uint32_t>(ino >> kInoBranchShift); }
inline uint64_t InoCounter(uint64_t ino) { return ino & ((1ull << kInoBranchShift) - 1); }

inline std::string KeyPrefix(uint64_t ino, KeyKind kind) {
  std::string k;
  k.reserve(24);
  PutBig64(&k, ino);
  k.push_back(static_cast<char>(kind));
  return k;
}
inline std::string AttrKey(uint64_t ino) { return KeyPrefix(ino, KeyKind::kAttr); }
inline std::string SymlinkKey(uint64_t ino) { return KeyPrefix(ino, KeyKind::kSymlink); }
inline std::string DirentPrefix(uint64_t dir) { return KeyPrefix(dir, KeyKind::kDirent); }
inline std::string DirentKey(uint64_t dir, std::string_view name) {
  std::string k = DirentPrefix(dir);
  k.append(name);
  k.push_back('\0');
  return k;
}
inline std::string PageKey(uint64_t data_id, uint64_t block) {
  std::string k = KeyPrefix(data_id, KeyKind::kPage);
  PutBig64(&k, block);
  return k;
}

inline std::string DeadKey(uint64_t data_id) {
  std::string k = KeyPrefix(0, KeyKind::kDead);
  PutBig64(&k, data_id);
  return k;
}
inline std::string OrphanKey(uint64_t ino) {
  std::string k = KeyPrefix(0, KeyKind::kOrphan);
  PutBig64(&k, ino);
  return k;
}
// The data id or ino in the suffix of a kDead or kOrphan key.
inline uint64_t MetaKeyId(std::string_view key) { return DecodeBig64(key.data() + 9); }

// Accessors for a key known to be well-formed (it came from our own encoder).
inline uint64_t KeyIno(std::string_view key) { return DecodeBig64(key.data()); }
inline KeyKind KeyKindOf(std::string_view key) { return static_cast<KeyKind>(key[8]); }
// The name inside a kDirent key.
inline std::string_view DirentName(std::string_view key) { return key.substr(9, key.size() - 10); }

// A directory entry's value: the child's ino and its file type (S_IFMT bits),
// so readdir can report d_type without reading every child's attributes.
inline std::string EncodeDirent(uint64_t ino, uint32_t mode) {
  std::string v;
  PutFixed64(&v, ino);
  PutFixed32(&v, mode & 0170000);
  return v;
}
inline bool DecodeDirent(std::string_view v, uint64_t* ino, uint32_t* type = nullptr) {
  if (v.size() != 12) return false;
  *ino = DecodeFixed64(v.data());
  if (type) *type = DecodeFixed32(v.data() + 8);
  return true;
}

}  // namespace strata
