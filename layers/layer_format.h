// Constants of the layer object format (docs/layer-format.md). Any change to
// the meaning or placement of a byte in a layer object bumps kFormatVersion.
#pragma once

#include <cstddef>
#include <cstdint>

namespace strata::layer_format {

// Last 8 bytes of every layer object: ASCII "STRATALY", stored little-endian,
// so the object ends with the bytes 'Y' 'L' 'A' 'T' 'A' 'R' 'T' 'S'.
inline constexpr uint64_t kMagic = 0x5354524154414C59ull;

// Version written by this code; the only one it reads.
inline constexpr uint32_t kFormatVersion = 1;

// Footer layout (all little-endian). Version and magic sit at fixed distances
// from the end of the object in every version, so any reader can tell "not a
// layer" from "a layer of a version I do not know".
inline constexpr size_t kFooterSize = 72;
inline constexpr size_t kFooterIndexOffset = 0;     // u64 index region offset
inline constexpr size_t kFooterIndexLength = 8;     // u64 index region length
inline constexpr size_t kFooterIndexChecksum = 16;  // u64 xxh64 of the stored index region
inline constexpr size_t kFooterEntryCount = 24;     // u64
inline constexpr size_t kFooterMinSeq = 32;         // u64
inline constexpr size_t kFooterMaxSeq = 40;         // u64
inline constexpr size_t kFooterChecksum = 48;       // u64 xxh64 of the footer, this field zeroed
inline constexpr size_t kFooterBranch = 56;         // u32
inline constexpr size_t kFooterFormatVersion = 60;  // u32
inline constexpr size_t kFooterMagic = 64;          // u64

// Values of at most this many raw bytes are stored inline in the index,
// uncompressed; longer ones are one zstd frame each in the value area.
inline constexpr size_t kInlineMax = 128;

// Entry flag bits (index entry byte after the seq). At most one is set; the
// other bits are reserved and must be zero.
inline constexpr uint8_t kFlagTombstone = 0x01;
inline constexpr uint8_t kFlagInline = 0x02;
inline constexpr uint8_t kKnownFlags = kFlagTombstone | kFlagInline;

// Limits a reader enforces before allocating anything, so a corrupt or hostile
// object cannot make it allocate gigabytes. Writers never exceed them.
// A real index is a few MiB (about 50 bytes per 8 KiB page), far below these.
inline constexpr uint32_t kMaxValueLength = 64u << 20;        // raw bytes of one value
inline constexpr uint64_t kMaxIndexRawLength = 256ull << 20;  // decompressed index region
// Stored index region; at least ZSTD_compressBound(kMaxIndexRawLength).
inline constexpr uint64_t kMaxIndexLength =
    kMaxIndexRawLength + (kMaxIndexRawLength >> 7) + (1 << 17);

}  // namespace strata::layer_format
