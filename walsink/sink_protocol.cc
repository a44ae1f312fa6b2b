#include "walsink/sink_protocol.h"

#include "common/coding.h"
#include "common/net.h"

namespace strata {

namespace {

constexpr size_t kMaxStoreIdBytes = 64;
// Control messages are small; only APPEND (an op record) may be large.
constexpr uint32_t kMaxControlBodyBytes = 16u << 20;
constexpr size_t kMaxErrorMessageBytes = 4096;

bool KnownType(uint8_t t) {
  return (t >= static_cast<uint8_t>(SinkMsg::kHello) &&
          t <= static_cast<uint8_t>(SinkMsg::kError)) ||
         t == static_cast<uint8_t>(SinkMsg::kAppend);
}

Status Malformed(const char* what) {
  return Status::Corruption(std::string("walsink message: malformed ") + what);
}

// A u16 length and that many bytes, from the front of *body.
bool TakeString16(std::string_view* body, std::string* out) {
  if (body->size() < 2) return false;
  const size_t n = DecodeFixed16(body->data());
  if (body->size() < 2 + n) return false;
  out->assign(body->substr(2, n));
  body->remove_prefix(2 + n);
  return true;
}

}  // namespace

const char* SinkErrorName(SinkError e) {
  switch (e) {
    case SinkError::kBadFrame:
      return "bad frame";
    case SinkError::kBadMessage:
      return "bad message";
    case SinkError::kVersion:
      return "unsupported version";
    case SinkError::kBadStoreId:
      return "bad store id";
    case SinkError::kUnknownBranch:
      return "unknown branch";
    case SinkError::kSeqGap:
      return "seq gap";
    case SinkError::kNoSpace:
      return "sink disk full";
    case SinkError::kIO:
      return "sink I/O error";
    case SinkError::kUnauthorized:
      return "unauthorized";
    case SinkError::kStoreNotServed:
      return "store not served";
    case SinkError::kFenced:
      return "fenced";
  }
  return "unknown error";
}

Status SinkErrorStatus(SinkError e, const std::string& message) {
  const std::string m = std::string("walsink server: ") + SinkErrorName(e) + ": " + message;
  switch (e) {
    case SinkError::kNoSpace:
      return Status::NoSpace(m, /*retryable=*/true);  // space may be freed: keep trying
    case SinkError::kIO:
      return Status::IO(m, true);
    case SinkError::kUnknownBranch:
    case SinkError::kSeqGap:
    case SinkError::kBadFrame:
      return Status::Corruption(m);
    case SinkError::kUnauthorized:
    case SinkError::kStoreNotServed:
      return Status::Permission(m);
    case SinkError::kFenced:
      return Status::ReadOnly(m);
    default:
      return Status::Invalid(m);
  }
}

SinkError SinkErrorFor(const Status& st) {
  // A damaged log on the server's disk is the server's I/O problem, not a bad
  // frame from the client.
  return st.code() == Code::kNoSpace ? SinkError::kNoSpace : SinkError::kIO;
}

void EncodeSinkFrame(SinkMsg type, std::string_view body, std::string* dst) {
  dst->push_back(static_cast<char>(type));
  PutFixed32(dst, static_cast<uint32_t>(body.size()));
  PutFixed32(dst, OpFrameChecksum(body.data(), body.size()));
  dst->append(body);
}

void EncodeHello(std::string_view store_id, std::string_view token, std::string* dst) {
  std::string b;
  PutFixed16(&b, kSinkProtocolVersion);
  PutFixed16(&b, static_cast<uint16_t>(store_id.size()));
  b.append(store_id);
  PutFixed16(&b, static_cast<uint16_t>(token.size()));
  b.append(token);
  EncodeSinkFrame(SinkMsg::kHello, b, dst);
}

void EncodeHelloOk(std::string* dst) {
  std::string b;
  PutFixed16(&b, kSinkProtocolVersion);
  EncodeSinkFrame(SinkMsg::kHelloOk, b, dst);
}

void EncodeBranch(uint32_t branch, uint64_t covered, uint64_t epoch, std::string* dst) {
  std::string b;
  PutFixed32(&b, branch);
  PutFixed64(&b, covered);
  PutFixed64(&b, epoch);
  EncodeSinkFrame(SinkMsg::kBranch, b, dst);
}

void EncodeDrop(uint32_t branch, std::string* dst) {
  std::string b;
  PutFixed32(&b, branch);
  EncodeSinkFrame(SinkMsg::kDrop, b, dst);
}

namespace {
std::string BranchSeqsBody(const BranchSeqs& list) {
  std::string b;
  PutFixed32(&b, static_cast<uint32_t>(list.size()));
  for (const auto& [branch, seq] : list) {
    PutFixed32(&b, branch);
    PutFixed64(&b, seq);
  }
  return b;
}
}  // namespace

void EncodeReplay(const BranchSeqs& after, std::string* dst) {
  EncodeSinkFrame(SinkMsg::kReplay, BranchSeqsBody(after), dst);
}

void EncodeReplayEnd(const BranchSeqs& last, std::string* dst) {
  EncodeSinkFrame(SinkMsg::kReplayEnd, BranchSeqsBody(last), dst);
}

void EncodeAck(uint64_t count, std::string* dst) {
  std::string b;
  PutFixed64(&b, count);
  EncodeSinkFrame(SinkMsg::kAck, b, dst);
}

void EncodeError(SinkError code, std::string_view message, std::string* dst) {
  std::string b;
  b.push_back(static_cast<char>(code));
  if (message.size() > kMaxErrorMessageBytes) {
    // Cut at a character boundary: the message is UTF-8.
    size_t n = kMaxErrorMessageBytes;
    while (n > 0 && (static_cast<uint8_t>(message[n]) & 0xC0) == 0x80) n--;
    message = message.substr(0, n);
  }
  b.append(message);
  EncodeSinkFrame(SinkMsg::kError, b, dst);
}

Status ReadSinkFrame(ByteStream* stream, const std::string& peer, StreamDeadline deadline,
                     SinkFrame* frame) {
  char hdr[kOpRecordHeaderBytes];
  STRATA_RETURN_IF_ERROR(ReadExactly(stream, hdr, sizeof(hdr), deadline, peer));
  const uint8_t type = static_cast<uint8_t>(hdr[0]);
  const uint32_t len = DecodeFixed32(hdr + 1);
  const uint32_t crc = DecodeFixed32(hdr + 5);
  if (!KnownType(type)) {
    return Status::Corruption("walsink frame: unknown type " + SinkTypeName(type));
  }
  const uint32_t limit =
      type == static_cast<uint8_t>(SinkMsg::kAppend) ? kOpRecordMaxBodyBytes : kMaxControlBodyBytes;
  if (len > limit) {
    return Status::Corruption("walsink frame: body length " + std::to_string(len) +
                              " exceeds the limit of " + std::to_string(limit));
  }
  std::string body(len, '\0');
  Status st = ReadExactly(stream, body.data(), len, deadline, peer);
  if (st.IsNotFound()) st = Status::IO(peer + " closed the connection inside a frame");
  if (!st.ok() && len > 0 && st.code() != Code::kUnavailable) {
    return Status::IO("truncated walsink frame (" + std::to_string(len) +
                      "-byte body): " + st.message());
  }
  STRATA_RETURN_IF_ERROR(st);
  if (OpFrameChecksum(body.data(), body.size()) != crc) {
    return Status::Corruption("walsink frame: checksum mismatch (type " + SinkTypeName(type) +
                              ", " + std::to_string(len) + "-byte body)");
  }
  frame->type = static_cast<SinkMsg>(type);
  if (frame->type == SinkMsg::kAppend) {
    frame->raw.assign(hdr, sizeof(hdr));
    frame->raw.append(body);
  } else {
    frame->raw.clear();
  }
  frame->body = std::move(body);
  return Status::OK();
}

Status ReadSinkFrame(int fd, const std::string& peer, SinkFrame* frame) {
  PlainStream stream(fd);
  return ReadSinkFrame(&stream, peer, kNoStreamDeadline, frame);
}

Status ParseHello(std::string_view body, uint16_t* version, std::string* store_id,
                  std::string* token) {
  if (body.size() < 2) return Malformed("HELLO");
  *version = DecodeFixed16(body.data());
  body.remove_prefix(2);
  token->clear();
  if (!TakeString16(&body, store_id)) return Malformed("HELLO");
  // A version this side does not know keeps its layout to itself: the
  // caller refuses the version, not the body.
  if (*version > kSinkProtocolVersion) return Status::OK();
  if (*version >= 2 && !TakeString16(&body, token)) return Malformed("HELLO");
  if (!body.empty()) return Malformed("HELLO");
  return Status::OK();
}

Status ParseHelloOk(std::string_view body, uint16_t* version) {
  if (body.size() != 2) return Malformed("HELLO_OK");
  *version = DecodeFixed16(body.data());
  return Status::OK();
}

Status ParseBranch(std::string_view body, uint32_t* branch, uint64_t* covered, uint64_t* epoch) {
  Reader r(body);
  *epoch = 0;
  if (!r.GetFixed32(branch) || !r.GetFixed64(covered)) return Malformed("BRANCH");
  if (r.remaining() != 0 && !r.GetFixed64(epoch)) return Malformed("BRANCH");
  if (r.remaining() != 0) return Malformed("BRANCH");
  return Status::OK();
}

Status ParseDrop(std::string_view body, uint32_t* branch) {
  Reader r(body);
  if (!r.GetFixed32(branch) || r.remaining() != 0) return Malformed("DROP");
  return Status::OK();
}

Status ParseBranchSeqs(std::string_view body, BranchSeqs* out) {
  Reader r(body);
  uint32_t n = 0;
  if (!r.GetFixed32(&n) || r.remaining() != static_cast<size_t>(n) * 12) {
    return Malformed("branch list");
  }
  out->clear();
  out->reserve(n);
  for (uint32_t i = 0; i < n; i++) {
    uint32_t b = 0;
    uint64_t s = 0;
    r.GetFixed32(&b);
    r.GetFixed64(&s);
    out->emplace_back(b, s);
  }
  return Status::OK();
}

Status ParseAck(std::string_view body, uint64_t* count) {
  Reader r(body);
  if (!r.GetFixed64(count) || r.remaining() != 0) return Malformed("ACK");
  return Status::OK();
}

Status ParseError(std::string_view body, SinkError* code, std::string* message) {
  if (body.empty()) return Malformed("ERROR");
  *code = static_cast<SinkError>(static_cast<uint8_t>(body[0]));
  message->assign(body.substr(1));
  return Status::OK();
}

Status ErrorFrameStatus(std::string_view body) {
  SinkError code;
  std::string message;
  STRATA_RETURN_IF_ERROR(ParseError(body, &code, &message));
  return SinkErrorStatus(code, message);
}

std::string SinkTypeName(uint8_t type) {
  static const char* const kHex = "0123456789abcdef";
  return std::string("0x") + kHex[type >> 4] + kHex[type & 15];
}

Status CheckSinkStoreId(std::string_view id) {
  if (id.empty() || id.size() > kMaxStoreIdBytes) {
    return Status::Invalid("store id must be 1.." + std::to_string(kMaxStoreIdBytes) +
                           " characters, got " + std::to_string(id.size()));
  }
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) return Status::Invalid("store id may hold only letters, digits, '-' and '_'");
  }
  return Status::OK();
}

}  // namespace strata
