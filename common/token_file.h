// Token files: a shared secret kept in a file of its own, like the API's
// admin token (CACHE_DIR/api-token) and the walsink's (`strata walsink serve
// --token-file`, `strata mount --sink-token-file`).
//
// Format: the token is the file's first line (a newline after it is
// optional); it is 16 to 1024 characters, printable ASCII without spaces.
// A file made here holds 64 random hex digits and a newline, mode 0600, and
// is fsync'ed before the token is used.
#pragma once

#include <string>

#include "common/status.h"

namespace strata {

inline constexpr size_t kMinTokenChars = 16;
inline constexpr size_t kMaxTokenChars = 1024;

// The token in `path`. `what` names the file in errors ("walsink token
// file"): kNotFound if it is missing, kInvalid if the token is malformed or
// the file is readable by group or others (it grants access: chmod 600).
Result<std::string> ReadTokenFile(const std::string& path, const std::string& what);

// ReadTokenFile, or a new random token written to a new file when `path`
// does not exist.
Result<std::string> LoadOrMakeTokenFile(const std::string& path, const std::string& what);

}  // namespace strata
