// The walsink wire protocol: framed, checksummed messages between a daemon
// (the sink client) and `strata walsink serve`. Byte format and rules:
// docs/sink-protocol.md.
//
// Every message is a frame with the op-record frame layout (op_record.h):
// type u8 | body length u32 | checksum u32 | body, the checksum being the low
// 32 bits of XXH64(body). An APPEND is an op-record frame verbatim.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/byte_stream.h"
#include "common/status.h"
#include "oplog/op_record.h"

namespace strata {

// Version 2 added the token to HELLO. A server takes version 1 HELLOs (no
// token) only when it asks for no token. Version 3 added the writer's lease
// epoch to BRANCH, and the fence (kFenced).
inline constexpr uint16_t kSinkProtocolVersion = 3;
inline constexpr uint16_t kSinkOldestProtocolVersion = 1;
// A HELLO token is at most this long.
inline constexpr size_t kMaxSinkTokenBytes = 1024;

enum class SinkMsg : uint8_t {
  kHello = 0x10,             // client: version u16, store id, token (each u16 length + bytes)
  kHelloOk = 0x11,           // server: version u16
  kBranch = 0x12,            // client: branch u32, covered seq u64[, epoch u64] (register + trim)
  kDrop = 0x13,              // client: branch u32 (forget the branch)
  kReplay = 0x14,            // client: branch/seq list: send records with seq > after
  kReplayEnd = 0x15,         // server: branch/seq list: every branch known, its last seq
  kAck = 0x16,               // server: count u64 of client messages processed and durable
  kError = 0x17,             // server: error code u8, message; the server then closes
  kAppend = kOpRecordMagic,  // client (and replay): one op record frame
};

// Error codes carried by kError.
enum class SinkError : uint8_t {
  kBadFrame = 1,         // bad type, length or checksum; truncated frame
  kBadMessage = 2,       // a frame whose body does not parse, or out of order
  kVersion = 3,          // protocol version not supported
  kBadStoreId = 4,       // HELLO's store id is not acceptable
  kUnknownBranch = 5,    // APPEND for a branch not registered with BRANCH
  kSeqGap = 6,           // APPEND with seq past the branch's last seq + 1
  kNoSpace = 7,          // the sink's disk is full
  kIO = 8,               // the sink failed to write or sync
  kUnauthorized = 9,     // HELLO without the server's token
  kStoreNotServed = 10,  // HELLO for a store id this server does not serve
  kFenced = 11,          // APPEND of a branch a writer of a newer lease epoch registered
};

const char* SinkErrorName(SinkError e);
// The Status a client reports for an error frame from the server.
Status SinkErrorStatus(SinkError e, const std::string& message);
// The error code a server sends when its op log fails (to open, append or
// sync): kNoSpace for a full disk, kIO for everything else.
SinkError SinkErrorFor(const Status& st);

struct SinkFrame {
  SinkMsg type = SinkMsg::kError;
  std::string body;
  // The whole frame as read (header + body); set for kAppend only.
  std::string raw;
};

using BranchSeqs = std::vector<std::pair<uint32_t, uint64_t>>;

// Frame builders: append one frame to *dst.
void EncodeSinkFrame(SinkMsg type, std::string_view body, std::string* dst);
// Always the current version, with `token` (empty when the server asks for none).
void EncodeHello(std::string_view store_id, std::string_view token, std::string* dst);
void EncodeHelloOk(std::string* dst);
// `epoch`: the lease epoch the client writes the branch under (0: none).
void EncodeBranch(uint32_t branch, uint64_t covered, uint64_t epoch, std::string* dst);
void EncodeDrop(uint32_t branch, std::string* dst);
void EncodeReplay(const BranchSeqs& after, std::string* dst);
void EncodeReplayEnd(const BranchSeqs& last, std::string* dst);
void EncodeAck(uint64_t count, std::string* dst);
void EncodeError(SinkError code, std::string_view message, std::string* dst);

// Reads one frame from a stream by `deadline`. kNotFound: the peer closed
// cleanly between frames. kCorruption: an unknown type, a length over the
// limit or a checksum mismatch (the stream cannot be resynchronised; close
// it). kIO: socket errors and a connection closed mid-frame. kUnavailable:
// the deadline passed.
Status ReadSinkFrame(ByteStream* stream, const std::string& peer, StreamDeadline deadline,
                     SinkFrame* frame);
// The same on a plain socket, without a deadline.
Status ReadSinkFrame(int fd, const std::string& peer, SinkFrame* frame);

// Body parsers: kCorruption on a body that does not parse exactly.
// A version 1 HELLO has no token: *token is then empty.
Status ParseHello(std::string_view body, uint16_t* version, std::string* store_id,
                  std::string* token);
Status ParseHelloOk(std::string_view body, uint16_t* version);
// A version 1 or 2 BRANCH has no epoch: *epoch is then 0.
Status ParseBranch(std::string_view body, uint32_t* branch, uint64_t* covered, uint64_t* epoch);
Status ParseDrop(std::string_view body, uint32_t* branch);
Status ParseBranchSeqs(std::string_view body, BranchSeqs* out);  // kReplay, kReplayEnd
Status ParseAck(std::string_view body, uint64_t* count);
Status ParseError(std::string_view body, SinkError* code, std::string* message);
// What a client reports for an ERROR frame: SinkErrorStatus of its code and
// message, or the parse error if the body is malformed.
Status ErrorFrameStatus(std::string_view body);
// "0x17": a frame type for messages.
std::string SinkTypeName(uint8_t type);

// A store id names a namespace directory on the sink: 1..64 of [A-Za-z0-9_-].
Status CheckSinkStoreId(std::string_view id);

}  // namespace strata
