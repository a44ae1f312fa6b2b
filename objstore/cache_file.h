// The files of the L2 disk cache (docs/cache.md): one file per cached chunk of
// an object, plus one size record per object, each with a self-checking
// header, in a fan-out of 256 directories. This file knows the bytes and the
// names; DiskCachedStore (disk_cache.h) decides what to keep.
//
// Any change to the meaning or placement of a byte bumps kFormatVersion; a
// file of another version reads as corrupt and is refetched.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace strata::cache_file {

// First 8 bytes of every cache file: ASCII "STRATADC", stored little-endian,
// so the file starts with the bytes 'C' 'D' 'A' 'T' 'A' 'R' 'T' 'S'.
inline constexpr uint64_t kMagic = 0x5354524154414443ull;
// Version written by this code; the only one it reads.
inline constexpr uint32_t kFormatVersion = 1;

// Header layout (all little-endian); the key follows it, then the payload.
inline constexpr size_t kHeaderSize = 64;
inline constexpr size_t kHeaderMagic = 0;           // u64
inline constexpr size_t kHeaderVersion = 8;         // u32
inline constexpr size_t kHeaderKeyLength = 12;      // u32
inline constexpr size_t kHeaderIndex = 16;          // u64 chunk index, or kSizeRecord
inline constexpr size_t kHeaderOffset = 24;         // u64 offset of the payload in the object
inline constexpr size_t kHeaderObjectSize = 32;     // u64 size of the whole object
inline constexpr size_t kHeaderPayloadLength = 40;  // u32
inline constexpr size_t kHeaderReserved = 44;       // u32, zero
inline constexpr size_t kHeaderPayloadHash = 48;    // u64 xxh64 of the payload
inline constexpr size_t kHeaderHash = 56;           // u64 xxh64 of bytes [0, 56) then the key

// The chunk index of an object's size record, which has no payload: its
// header's object size is the record.
inline constexpr uint64_t kSizeRecord = ~uint64_t{0};
// Longest key a cache file holds; longer keys are not cached.
inline constexpr size_t kMaxKeyLength = 4096;
// Largest payload of one chunk.
inline constexpr uint64_t kMaxChunkBytes = 64ull << 20;

// Names every file of an object: xxh64 (seed 0) of the key.
uint64_t KeyHash(std::string_view key);

// The path of a cache file relative to the cache directory:
// "<hh>/<hash, 16 hex digits>.<index in hex>" or "<hh>/<hash>.size", where
// hh is the top byte of the hash.
std::string FileName(uint64_t key_hash, uint64_t index);
// The inverse of FileName for the name `name` found in subdirectory `subdir`;
// false for anything FileName does not produce.
bool ParseFileName(std::string_view subdir, std::string_view name, uint64_t* key_hash,
                   uint64_t* index);

// What a cache file says it holds.
struct CacheFile {
  std::string_view key;
  uint64_t index = 0;
  uint64_t offset = 0;
  uint64_t object_size = 0;
  std::string_view payload;
};

// The bytes of a cache file holding `payload` at `offset` of the object `key`
// of `object_size` bytes. REQUIRES: 0 < key.size() <= kMaxKeyLength,
// payload.size() <= kMaxChunkBytes.
std::string Encode(std::string_view key, uint64_t index, uint64_t offset, uint64_t object_size,
                   std::string_view payload);

// Parses and verifies a whole cache file (magic, version, lengths, both
// checksums, and that the payload lies inside the object). The views point
// into `file`. kCorruption, saying what is wrong, for anything else.
Result<CacheFile> Decode(std::string_view file);

// Writes `data` to a temp file (".tmp-*") beside `path`, creating missing
// directories, and renames it over `path`. No fsync: a cache file torn by a
// crash fails Decode and is refetched.
Status WriteAtomically(const std::string& path, std::string_view data);
// The whole file at `path`: kNotFound if there is none, kCorruption if it is
// larger than `max_size` or shrinks while read, kIO for read errors.
Result<std::string> ReadWhole(const std::string& path, uint64_t max_size);

// A cache file found by Scan.
struct FoundFile {
  uint64_t key_hash = 0;
  uint64_t index = 0;
  uint64_t bytes = 0;
  int64_t mtime_ns = 0;
};
// The cache files under `dir`, oldest mtime first. Deletes what cannot be a
// cache file in the fan-out directories (temp files of a crashed writer,
// foreign names, files shorter than a header) and counts it in `*removed`;
// anything else in `dir` itself is left alone. kIO if `dir` cannot be read.
Result<std::vector<FoundFile>> Scan(const std::string& dir, size_t* removed);

}  // namespace strata::cache_file
