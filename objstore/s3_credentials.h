// S3 credentials, resolved once when an s3:// store is opened.
//
// Order: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN) from
// the environment; else the shared credentials file (AWS_SHARED_CREDENTIALS_FILE,
// else ~/.aws/credentials), profile AWS_PROFILE, else "default". Nothing else
// (no config file, SSO or instance metadata), and no refresh: temporary
// credentials that expire make requests fail with kPermission until the
// process reopens the store.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "objstore/s3_url.h"
#include "objstore/sigv4.h"

namespace strata {

struct S3Credentials {
  sigv4::SigV4Credentials keys;
  // Where they came from, for logs: "environment" or "<file> [profile]".
  std::string source;
};

// kInvalid with a message naming the variables to set when none are found, or
// naming the file and profile when the shared file is unusable.
Result<S3Credentials> ResolveS3Credentials(const EnvLookup& env = ProcessEnv());

// Reads `profile` from the text of a shared credentials file (INI: "[profile]"
// sections, "key = value" lines, '#' and ';' comments). `file` names it in
// messages.
Result<S3Credentials> ParseSharedCredentials(std::string_view text, const std::string& profile,
                                             const std::string& file);

}  // namespace strata
