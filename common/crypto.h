// Cryptographic primitives on OpenSSL, shared by SigV4 (objstore/sigv4.h),
// SCRAM (pgwire/scram.h), credentials and the API's bearer token.
//
// Nothing here fails short of a broken OpenSSL install or no memory; the
// functions abort then, since a wrong digest or a guessable secret would be
// worse than stopping.
// All functions are thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace strata::crypto {

// Raw 32-byte SHA-256(data).
std::string Sha256(std::string_view data);
// Raw 16-byte MD5(data): only where a protocol asks for it (S3's
// Content-MD5), never for integrity or secrets.
std::string Md5(std::string_view data);
// Lowercase hex of SHA-256(data).
std::string Sha256Hex(std::string_view data);
// Raw 32-byte HMAC-SHA256(key, data); an empty key is legal.
std::string HmacSha256(std::string_view key, std::string_view data);
// Raw 32-byte PBKDF2-HMAC-SHA256 (RFC 8018) of `password`.
std::string Pbkdf2Sha256(std::string_view password, std::string_view salt, int iterations);

// Lowercase hex of arbitrary bytes.
std::string HexEncode(std::string_view bytes);
// Standard base64 (RFC 4648, with padding).
std::string Base64Encode(std::string_view bytes);
// kInvalid for a length that is not a multiple of 4, a character outside
// the alphabet, or a non-canonical spelling (stray bits in the last one).
Result<std::string> Base64Decode(std::string_view text);

// n bytes from OpenSSL's CSPRNG.
std::string RandomBytes(size_t n);
// Equality in time that depends only on the lengths, for secrets.
bool ConstantTimeEqual(std::string_view a, std::string_view b);

}  // namespace strata::crypto
