#include "objstore/s3_credentials.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/text.h"

namespace strata {
namespace {

constexpr std::string_view kHowTo =
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary "
    "credentials), or put them in ~/.aws/credentials (another file: AWS_SHARED_CREDENTIALS_FILE; "
    "another profile than [default]: AWS_PROFILE)";

}  // namespace

Result<S3Credentials> ParseSharedCredentials(std::string_view text, const std::string& profile,
                                             const std::string& file) {
  S3Credentials creds;
  creds.source = file + " [" + profile + "]";
  bool in_profile = false, found = false;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = std::min(text.find('\n', start), text.size());
    std::string_view line = TrimAsciiSpace(text.substr(start, end - start));
    start = end + 1;
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    if (line.front() == '[') {
      if (line.back() != ']') {
        return Status::Invalid("S3 credentials file " + file + ": malformed section line \"" +
                               std::string(line) + "\"");
      }
      in_profile = TrimAsciiSpace(line.substr(1, line.size() - 2)) == profile;
      found = found || in_profile;
      continue;
    }
    if (!in_profile) continue;
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;  // not ours to judge: other tools' syntax
    std::string key = AsciiLower(TrimAsciiSpace(line.substr(0, eq)));
    std::string value(TrimAsciiSpace(line.substr(eq + 1)));
    if (key == "aws_access_key_id") creds.keys.access_key_id = value;
    if (key == "aws_secret_access_key") creds.keys.secret_access_key = value;
    if (key == "aws_session_token") creds.keys.session_token = value;
  }
  if (!found) {
    return Status::Invalid("no S3 credentials: profile [" + profile + "] is not in " + file + "; " +
                           std::string(kHowTo));
  }
  if (creds.keys.access_key_id.empty() || creds.keys.secret_access_key.empty()) {
    return Status::Invalid("no S3 credentials: profile [" + profile + "] in " + file +
                           " lacks aws_access_key_id or aws_secret_access_key; " +
                           std::string(kHowTo));
  }
  return creds;
}

Result<S3Credentials> ResolveS3Credentials(const EnvLookup& env) {
  std::optional<std::string> id = env("AWS_ACCESS_KEY_ID");
  std::optional<std::string> secret = env("AWS_SECRET_ACCESS_KEY");
  if (id || secret) {
    if (!id || !secret) {
      return Status::Invalid(std::string("no S3 credentials: ") +
                             (id ? "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"
                                 : "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not"));
    }
    S3Credentials creds;
    creds.keys.access_key_id = *id;
    creds.keys.secret_access_key = *secret;
    creds.keys.session_token = env("AWS_SESSION_TOKEN").value_or("");
    creds.source = "environment";
    return creds;
  }

  std::optional<std::string> file = env("AWS_SHARED_CREDENTIALS_FILE");
  const bool named = file.has_value();
  if (!named) {
    std::optional<std::string> home = env("HOME");
    if (!home) return Status::Invalid("no S3 credentials found: " + std::string(kHowTo));
    file = *home + "/.aws/credentials";
  }
  std::ifstream in(*file);
  if (!in) {
    int err = errno;
    if (!named && err == ENOENT) {
      return Status::Invalid("no S3 credentials found: " + std::string(kHowTo));
    }
    return Status::Invalid("no S3 credentials: cannot read " + *file + " (" +
                           (named ? "AWS_SHARED_CREDENTIALS_FILE" : "the default file") +
                           "): " + std::strerror(err));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return ParseSharedCredentials(text.str(), env("AWS_PROFILE").value_or("default"), *file);
}

}  // namespace strata
