// The PostgreSQL wire protocol (3.0), as far as the proxy needs it: the
// session start (startup, SSL/GSS negotiation, cancel), framed messages, the
// SASL authentication messages, ErrorResponse, BackendKeyData; and strata's
// own relay handshake between two proxies (docs/proxy.md, "Relay between
// daemons"): RelayRequest and AuthenticationRelayChallenge.
//
// Contract: the Parse* functions are pure, never read past their input and
// reject anything malformed with kInvalid and a message naming what is wrong
// (they are fed bytes straight from unauthenticated clients). The Encode*
// functions produce whole messages, type byte and length included. The Read*
// functions read exactly one packet or message from a blocking socket and
// nothing beyond it; with a deadline they fail with kUnavailable ("... timed
// out") once it passes. A peer that closes before the first byte gives
// kNotFound, one that closes in the middle kIO.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/byte_stream.h"
#include "common/status.h"

namespace strata::pgwire {

inline constexpr uint32_t kProtocolV3 = 196608;  // 3.0: major << 16 | minor
inline constexpr uint32_t kSslRequestCode = 80877103;
inline constexpr uint32_t kGssEncRequestCode = 80877104;
inline constexpr uint32_t kCancelRequestCode = 80877102;
// strata's RelayRequest, 1234.5690: next to PostgreSQL's 1234.5678-5680 and
// unused by it. Only proxies of one store send it to one another.
inline constexpr uint32_t kRelayRequestCode = (1234u << 16) | 5690;
// The largest startup packet accepted, length word included (PostgreSQL's
// MAX_STARTUP_PACKET_LENGTH).
inline constexpr uint32_t kMaxStartupLength = 10000;
// A RelayRequest carries a client's whole startup packet and the relay's own
// fields: this much more is allowed for it, and for nothing else.
inline constexpr uint32_t kMaxRelayRequestLength = kMaxStartupLength + 1024;

// Authentication request codes: the first int32 of an 'R' message.
inline constexpr uint32_t kAuthOk = 0;
inline constexpr uint32_t kAuthSasl = 10;
inline constexpr uint32_t kAuthSaslContinue = 11;
inline constexpr uint32_t kAuthSaslFinal = 12;
// strata's AuthenticationRelayChallenge: the holder's answer to a RelayRequest.
inline constexpr uint32_t kAuthRelayChallenge = 5690;

using SteadyClock = std::chrono::steady_clock;
inline constexpr SteadyClock::time_point kNoDeadline = SteadyClock::time_point::max();

using Params = std::vector<std::pair<std::string, std::string>>;

// The first packet of a connection.
struct Startup {
  enum class Kind { kStartup, kSsl, kGssEnc, kCancel, kRelay } kind = Kind::kStartup;
  // kStartup: the requested version, major 3; kRelay: the client's.
  uint32_t protocol = 0;
  // kStartup: in packet order, names unique, "user" present; kRelay: the
  // client's startup parameters, likewise.
  Params params;
  // kRelay: the relay's own fields, names unique, "node", "nonce" and
  // "client" present, the first two not empty.
  Params relay;
  uint32_t cancel_pid = 0, cancel_key = 0;  // kCancel

  // The value of parameter `name`, or nullptr.
  const std::string* Param(std::string_view name) const;
  // The value of relay field `name`, or nullptr.
  const std::string* RelayField(std::string_view name) const;
};

// Parses a startup-phase packet without its int32 length word. kInvalid for
// a bad length, unterminated strings, a missing final NUL, an empty
// parameter name, a duplicate parameter, no "user", a RelayRequest without
// its fields; kNotSupported for a protocol whose major version is not 3.
Result<Startup> ParseStartup(std::string_view packet_after_length);
// Reads one startup-phase packet: the length word must be
// 8..kMaxStartupLength, or up to kMaxRelayRequestLength for a RelayRequest
// (kInvalid "invalid startup packet length N" otherwise, after reading at
// most the 4-byte code).
// A client's read that fails is kNotFound when it closed before the first
// byte, kUnavailable at the deadline, kIO otherwise (common/byte_stream.h).
Result<Startup> ReadStartup(ByteStream* s, SteadyClock::time_point deadline = kNoDeadline);
Result<Startup> ReadStartup(int fd, SteadyClock::time_point deadline = kNoDeadline);

// A regular message: type byte, int32 length (itself included), body.
struct Message {
  char type = 0;
  std::string body;
};
// kInvalid if the length word is below 4 or the body would exceed max_body.
Result<Message> ReadMessage(ByteStream* s, size_t max_body,
                            SteadyClock::time_point deadline = kNoDeadline);
Result<Message> ReadMessage(int fd, size_t max_body,
                            SteadyClock::time_point deadline = kNoDeadline);
std::string EncodeMessage(char type, std::string_view body);

// A StartupMessage carrying `params` in order (the caller includes "user").
std::string EncodeStartup(const Params& params, uint32_t protocol = kProtocolV3);
// The whole 16-byte CancelRequest packet.
std::string EncodeCancel(uint32_t pid, uint32_t key);
// The whole 8-byte SSLRequest packet.
std::string EncodeSslRequest();
// The whole RelayRequest packet: length, kRelayRequestCode, the client's
// protocol, the relay's fields, then the client's parameters, each list
// ending with an empty name. ParseStartup gives back exactly these.
std::string EncodeRelayRequest(const Params& relay, const Params& params, uint32_t protocol);

// ErrorResponse with fields S and V (severity), C, M, and D and H when non-empty.
std::string ErrorResponse(std::string_view severity, std::string_view sqlstate,
                          std::string_view message, std::string_view detail = {},
                          std::string_view hint = {});
std::string AuthenticationOk();
// AuthenticationSASL offering SCRAM-SHA-256 only (no channel binding).
// The SASL mechanisms offered: SCRAM-SHA-256, and first SCRAM-SHA-256-PLUS
// (channel binding) when `offer_plus`.
std::string AuthenticationSasl(bool offer_plus = false);
std::string AuthenticationSaslContinue(std::string_view data);
std::string AuthenticationSaslFinal(std::string_view data);
// AuthenticationRelayChallenge: kAuthRelayChallenge, then `fields` as
// name/value pairs ending with an empty name.
std::string AuthenticationRelayChallenge(const Params& fields);
// Messages a server sends at session start (the proxy relays them; tests fake them).
std::string ParameterStatus(std::string_view name, std::string_view value);
std::string BackendKeyData(uint32_t pid, uint32_t key);
std::string ReadyForQuery(char status);  // 'I', 'T' or 'E'

// SASLInitialResponse ('p'): mechanism, then int32 length (-1: no data) and data.
struct SaslInitial {
  std::string mechanism;
  std::string data;
  bool has_data = false;  // false when the length was -1
};
Result<SaslInitial> ParseSaslInitialResponse(std::string_view body);
// The fields of an ErrorResponse or NoticeResponse body, by field type. Stops
// at the terminator or at the first unterminated field (keeping those before).
std::map<char, std::string> ParseErrorFields(std::string_view body);
// BackendKeyData ('K') body: (pid, key). kInvalid unless exactly 8 bytes.
Result<std::pair<uint32_t, uint32_t>> ParseBackendKeyData(std::string_view body);
// The request code of an Authentication ('R') body. kInvalid if shorter than 4 bytes.
Result<uint32_t> ParseAuthenticationCode(std::string_view body);
// The fields of an AuthenticationRelayChallenge ('R') body. kInvalid for
// another code, malformed pairs, a duplicate name, or bytes after the end.
Result<Params> ParseRelayChallenge(std::string_view body);

// The entry proxy's answer to a relay challenge (docs/proxy.md, "Relay
// between daemons"): HMAC-SHA256 under the store's relay key of a transcript
// of the whole RelayRequest packet `request` (which holds the client nonce,
// the entry's node id, the user, the database), the holder's nonce and node
// id, and the holder certificate's fingerprint (empty without TLS).
std::string RelayProof(std::string_view relay_key, std::string_view request,
                       std::string_view holder_nonce, std::string_view holder_node,
                       std::string_view holder_fingerprint);

}  // namespace strata::pgwire
