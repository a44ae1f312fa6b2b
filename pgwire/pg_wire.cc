#include "pgwire/pg_wire.h"

#include <optional>
#include <set>

#include "common/coding.h"
#include "common/crypto.h"

namespace strata::pgwire {

namespace {

// A NUL-terminated string at the front of *in; false if there is no NUL.
bool TakeCString(std::string_view* in, std::string_view* out) {
  const size_t nul = in->find('\0');
  if (nul == std::string_view::npos) return false;
  *out = in->substr(0, nul);
  in->remove_prefix(nul + 1);
  return true;
}

std::string VersionText(uint32_t protocol) {
  return std::to_string(protocol >> 16) + "." + std::to_string(protocol & 0xffff);
}

Status Bad(const std::string& why) { return Status::Invalid("invalid startup packet: " + why); }

Status CheckProtocol(uint32_t protocol) {
  if (protocol >> 16 == 3) return Status::OK();
  return Status::NotSupported("unsupported frontend protocol " + VersionText(protocol) +
                              ": the server supports 3.0");
}

const std::string* Find(const Params& params, std::string_view name) {
  for (const auto& [k, v] : params) {
    if (k == name) return &v;
  }
  return nullptr;
}

// Name/value pairs at the front of *in up to their terminator, an empty name
// (consumed too), appended to *out. The reason when they are malformed.
std::optional<std::string> TakeParams(std::string_view* in, Params* out) {
  std::set<std::string_view> seen;
  while (true) {
    if (in->empty()) return "missing the final NUL";
    std::string_view name, value;
    if (!TakeCString(in, &name)) return "unterminated parameter name";
    if (name.empty()) return std::nullopt;
    if (!TakeCString(in, &value)) {
      return "unterminated value of parameter \"" + std::string(name) + "\"";
    }
    if (!seen.insert(name).second) return "duplicate parameter \"" + std::string(name) + "\"";
    out->emplace_back(std::string(name), std::string(value));
  }
}

// The parameters of a StartupMessage (or of a RelayRequest's client): the
// rest of the packet, with a user.
Status TakeStartupParams(std::string_view rest, Params* out) {
  if (std::optional<std::string> why = TakeParams(&rest, out)) return Bad(*why);
  if (!rest.empty()) return Bad("empty parameter name (or data after the terminator)");
  if (Find(*out, "user") == nullptr) return Bad("no user name");
  return Status::OK();
}

// A RelayRequest after its code: the client's protocol, the relay's fields,
// the client's parameters.
Result<Startup> ParseRelayRequest(std::string_view rest) {
  if (rest.size() < 4) return Bad("a relay request without the client's protocol");
  Startup s;
  s.kind = Startup::Kind::kRelay;
  s.protocol = DecodeBig32(rest.data());
  rest.remove_prefix(4);
  STRATA_RETURN_IF_ERROR(CheckProtocol(s.protocol));
  if (std::optional<std::string> why = TakeParams(&rest, &s.relay)) {
    return Bad("relay fields: " + *why);
  }
  for (std::string_view name : {"node", "nonce", "client"}) {
    const std::string* v = s.RelayField(name);
    if (v == nullptr || (v->empty() && name != "client")) {
      return Bad("a relay request without \"" + std::string(name) + "\"");
    }
  }
  STRATA_RETURN_IF_ERROR(TakeStartupParams(rest, &s.params));
  return s;
}

std::string EncodeParams(const Params& params) {
  std::string out;
  for (const auto& [k, v] : params) {
    out.append(k).push_back('\0');
    out.append(v).push_back('\0');
  }
  out.push_back('\0');
  return out;
}

std::string WithLength(const std::string& body) {
  std::string out;
  PutBig32(&out, static_cast<uint32_t>(body.size() + 4));
  return out + body;
}

std::string AuthMessage(uint32_t code, std::string_view data) {
  std::string body;
  PutBig32(&body, code);
  body.append(data);
  return EncodeMessage('R', body);
}

}  // namespace

const std::string* Startup::Param(std::string_view name) const { return Find(params, name); }

const std::string* Startup::RelayField(std::string_view name) const { return Find(relay, name); }

Result<Startup> ParseStartup(std::string_view packet) {
  if (packet.size() < 4) return Bad("shorter than its protocol code");
  const uint32_t code = DecodeBig32(packet.data());
  const uint32_t limit = code == kRelayRequestCode ? kMaxRelayRequestLength : kMaxStartupLength;
  if (packet.size() + 4 > limit) return Bad("longer than " + std::to_string(limit) + " bytes");
  Startup s;
  std::string_view rest = packet.substr(4);
  if (code == kSslRequestCode || code == kGssEncRequestCode) {
    if (!rest.empty()) return Bad("an encryption request has no payload");
    s.kind = code == kSslRequestCode ? Startup::Kind::kSsl : Startup::Kind::kGssEnc;
    return s;
  }
  if (code == kCancelRequestCode) {
    if (rest.size() != 8) return Bad("a cancel request is 16 bytes long");
    s.kind = Startup::Kind::kCancel;
    s.cancel_pid = DecodeBig32(rest.data());
    s.cancel_key = DecodeBig32(rest.data() + 4);
    return s;
  }
  if (code == kRelayRequestCode) return ParseRelayRequest(rest);
  STRATA_RETURN_IF_ERROR(CheckProtocol(code));
  s.kind = Startup::Kind::kStartup;
  s.protocol = code;
  STRATA_RETURN_IF_ERROR(TakeStartupParams(rest, &s.params));
  return s;
}

Result<Startup> ReadStartup(int fd, SteadyClock::time_point deadline) {
  PlainStream s(fd);
  return ReadStartup(&s, deadline);
}

Result<Startup> ReadStartup(ByteStream* s, SteadyClock::time_point deadline) {
  char len_buf[4];
  STRATA_RETURN_IF_ERROR(ReadExactly(s, len_buf, 4, deadline, "client"));
  const uint32_t len = DecodeBig32(len_buf);
  const Status bad_length = Status::Invalid("invalid startup packet length " + std::to_string(len));
  if (len < 8 || len > kMaxRelayRequestLength) return bad_length;
  std::string packet(len - 4, '\0');
  // Only a RelayRequest may be longer than kMaxStartupLength: its code
  // decides before the rest is read.
  const size_t head = len > kMaxStartupLength ? 4 : packet.size();
  STRATA_RETURN_IF_ERROR(ReadExactly(s, packet.data(), head, deadline, "client"));
  if (head < packet.size()) {
    if (DecodeBig32(packet.data()) != kRelayRequestCode) return bad_length;
    STRATA_RETURN_IF_ERROR(
        ReadExactly(s, packet.data() + head, packet.size() - head, deadline, "client"));
  }
  return ParseStartup(packet);
}

Result<Message> ReadMessage(int fd, size_t max_body, SteadyClock::time_point deadline) {
  PlainStream s(fd);
  return ReadMessage(&s, max_body, deadline);
}

Result<Message> ReadMessage(ByteStream* s, size_t max_body, SteadyClock::time_point deadline) {
  char head[5];
  STRATA_RETURN_IF_ERROR(ReadExactly(s, head, 5, deadline, "peer"));
  const uint32_t len = DecodeBig32(head + 1);
  const auto shown = [&] { return "message of type '" + std::string(1, head[0]) + "'"; };
  if (len < 4) {
    return Status::Invalid("invalid length " + std::to_string(len) + " of a " + shown());
  }
  if (len - 4 > max_body) {
    return Status::Invalid(shown() + " is " + std::to_string(len - 4) + " bytes long (at most " +
                           std::to_string(max_body) + ")");
  }
  Message m;
  m.type = head[0];
  m.body.resize(len - 4);
  Status st = ReadExactly(s, m.body.data(), m.body.size(), deadline, "peer");
  if (!st.ok()) {
    // The message has begun: an early close is a truncation, not a clean end.
    if (st.code() == Code::kNotFound)
      return Status::IO("peer closed the connection in a " + shown());
    return st;
  }
  return m;
}

std::string EncodeMessage(char type, std::string_view body) {
  std::string out(1, type);
  PutBig32(&out, static_cast<uint32_t>(body.size() + 4));
  out.append(body);
  return out;
}

std::string EncodeStartup(const Params& params, uint32_t protocol) {
  std::string body;
  PutBig32(&body, protocol);
  return WithLength(body + EncodeParams(params));
}

std::string EncodeCancel(uint32_t pid, uint32_t key) {
  std::string out;
  PutBig32(&out, 16);
  PutBig32(&out, kCancelRequestCode);
  PutBig32(&out, pid);
  PutBig32(&out, key);
  return out;
}

std::string EncodeSslRequest() {
  std::string out;
  PutBig32(&out, 8);
  PutBig32(&out, kSslRequestCode);
  return out;
}

std::string EncodeRelayRequest(const Params& relay, const Params& params, uint32_t protocol) {
  std::string body;
  PutBig32(&body, kRelayRequestCode);
  PutBig32(&body, protocol);
  return WithLength(body + EncodeParams(relay) + EncodeParams(params));
}

std::string ErrorResponse(std::string_view severity, std::string_view sqlstate,
                          std::string_view message, std::string_view detail,
                          std::string_view hint) {
  std::string body;
  const auto field = [&](char type, std::string_view value) {
    // A NUL inside a value would end the field early on the client's side.
    std::string v(value);
    std::erase(v, '\0');
    body.push_back(type);
    body.append(v).push_back('\0');
  };
  field('S', severity);
  field('V', severity);
  field('C', sqlstate);
  field('M', message);
  if (!detail.empty()) field('D', detail);
  if (!hint.empty()) field('H', hint);
  body.push_back('\0');
  return EncodeMessage('E', body);
}

std::string AuthenticationOk() { return AuthMessage(kAuthOk, {}); }

std::string AuthenticationSasl(bool offer_plus) {
  // In order of preference: libpq takes the first it can use.
  return AuthMessage(kAuthSasl, offer_plus
                                    ? std::string_view("SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0", 34)
                                    : std::string_view("SCRAM-SHA-256\0\0", 15));
}

std::string AuthenticationSaslContinue(std::string_view data) {
  return AuthMessage(kAuthSaslContinue, data);
}

std::string AuthenticationSaslFinal(std::string_view data) {
  return AuthMessage(kAuthSaslFinal, data);
}

std::string AuthenticationRelayChallenge(const Params& fields) {
  return AuthMessage(kAuthRelayChallenge, EncodeParams(fields));
}

std::string ParameterStatus(std::string_view name, std::string_view value) {
  std::string body;
  body.append(name).push_back('\0');
  body.append(value).push_back('\0');
  return EncodeMessage('S', body);
}

std::string BackendKeyData(uint32_t pid, uint32_t key) {
  std::string body;
  PutBig32(&body, pid);
  PutBig32(&body, key);
  return EncodeMessage('K', body);
}

std::string ReadyForQuery(char status) { return EncodeMessage('Z', std::string(1, status)); }

Result<SaslInitial> ParseSaslInitialResponse(std::string_view body) {
  SaslInitial out;
  std::string_view mechanism;
  if (!TakeCString(&body, &mechanism)) {
    return Status::Invalid("SASLInitialResponse: unterminated mechanism name");
  }
  if (body.size() < 4) return Status::Invalid("SASLInitialResponse: no data length");
  const int32_t len = static_cast<int32_t>(DecodeBig32(body.data()));
  body.remove_prefix(4);
  if (len == -1) {
    if (!body.empty()) return Status::Invalid("SASLInitialResponse: data after length -1");
  } else if (len < 0 || static_cast<size_t>(len) != body.size()) {
    return Status::Invalid("SASLInitialResponse: data length " + std::to_string(len) +
                           " does not match the " + std::to_string(body.size()) +
                           " bytes that follow");
  } else {
    out.data = std::string(body);
    out.has_data = true;
  }
  out.mechanism = std::string(mechanism);
  return out;
}

std::map<char, std::string> ParseErrorFields(std::string_view body) {
  std::map<char, std::string> out;
  while (!body.empty() && body[0] != '\0') {
    const char type = body[0];
    body.remove_prefix(1);
    std::string_view value;
    if (!TakeCString(&body, &value)) break;
    out[type] = std::string(value);
  }
  return out;
}

Result<std::pair<uint32_t, uint32_t>> ParseBackendKeyData(std::string_view body) {
  if (body.size() != 8) {
    return Status::Invalid("BackendKeyData of " + std::to_string(body.size()) +
                           " bytes (expected 8)");
  }
  return std::make_pair(DecodeBig32(body.data()), DecodeBig32(body.data() + 4));
}

Result<uint32_t> ParseAuthenticationCode(std::string_view body) {
  if (body.size() < 4) return Status::Invalid("authentication request without a code");
  return DecodeBig32(body.data());
}

Result<Params> ParseRelayChallenge(std::string_view body) {
  const auto bad = [](const std::string& why) {
    return Status::Invalid("invalid relay challenge: " + why);
  };
  if (body.size() < 4 || DecodeBig32(body.data()) != kAuthRelayChallenge) {
    return bad("not an AuthenticationRelayChallenge");
  }
  body.remove_prefix(4);
  Params fields;
  if (std::optional<std::string> why = TakeParams(&body, &fields)) return bad(*why);
  if (!body.empty()) return bad("data after the terminator");
  return fields;
}

std::string RelayProof(std::string_view relay_key, std::string_view request,
                       std::string_view holder_nonce, std::string_view holder_node,
                       std::string_view holder_fingerprint) {
  // Domain-separated, and each part length-prefixed: no two transcripts of
  // different parts are the same bytes.
  std::string transcript("strata relay proof v1\0", 22);
  for (std::string_view part : {request, holder_nonce, holder_node, holder_fingerprint}) {
    PutBig32(&transcript, static_cast<uint32_t>(part.size()));
    transcript.append(part);
  }
  return crypto::HmacSha256(relay_key, transcript);
}

}  // namespace strata::pgwire
