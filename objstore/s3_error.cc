#include "objstore/s3_error.h"

#include <algorithm>
#include <array>
#include <string>

namespace strata {
namespace {

template <size_t N>
bool OneOf(std::string_view code, const std::array<std::string_view, N>& codes) {
  return std::find(codes.begin(), codes.end(), code) != codes.end();
}

// Failures that say nothing about the request itself: another try may work.
constexpr std::array<std::string_view, 9> kTransientCodes = {
    "SlowDown",           "RequestTimeout",   "InternalError",
    "ServiceUnavailable", "Throttling",       "ThrottlingException",
    "RequestThrottled",   "OperationAborted", "ConditionalRequestConflict"};

constexpr std::array<std::string_view, 9> kCredentialCodes = {
    "AccessDenied",    "InvalidAccessKeyId", "SignatureDoesNotMatch",
    "ExpiredToken",    "InvalidToken",       "TokenRefreshRequired",
    "InvalidSecurity", "AccountProblem",     "AllAccessDisabled"};

}  // namespace

Status S3ErrorStatus(std::string_view what, std::string_view bucket, long http_status,
                     std::string_view code, std::string_view message) {
  std::string msg(what);
  msg += ": ";
  msg += code.empty() ? "HTTP " + std::to_string(http_status)
                      : std::to_string(http_status) + " " + std::string(code);
  if (message.ends_with('.')) message.remove_suffix(1);  // hints follow after a ';'
  if (!message.empty()) {
    msg += ": ";
    msg += message;
  }
  const bool ok_status = http_status >= 200 && http_status < 300;

  if (code == "NoSuchBucket") {
    return Status::Invalid(msg + "; bucket \"" + std::string(bucket) +
                           "\" does not exist (check the store URL and region)");
  }
  if (code == "RequestTimeTooSkewed") {
    return Status::IO(msg + "; this machine's clock is off, fix it (e.g. with NTP)");
  }
  if (OneOf(code, kTransientCodes) || http_status >= 500 || http_status == 429 ||
      (ok_status && !code.empty() && !OneOf(code, kCredentialCodes))) {
    return Status::IO(msg, /*retryable=*/true);
  }
  if (OneOf(code, kCredentialCodes) || http_status == 401 || http_status == 403) {
    return Status::Permission(msg +
                              "; check the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "
                              "AWS_SESSION_TOKEN or ~/.aws/credentials) and their permissions");
  }
  if (code == "PreconditionFailed" || http_status == 412) {
    return Status::Exists(msg + "; object already exists");
  }
  if (code == "InvalidRange" || http_status == 416) return Status::Invalid(msg);
  if (http_status == 404 && (code.empty() || code == "NoSuchKey")) {
    return Status::NotFound(msg + "; no such object");
  }
  if (code == "PermanentRedirect" || code == "AuthorizationHeaderMalformed" ||
      code == "IllegalLocationConstraintException") {
    return Status::IO(msg +
                      "; the bucket may be in another region (set region= in the URL or "
                      "AWS_REGION)");
  }
  if (code == "TemporaryRedirect") return Status::IO(msg, /*retryable=*/true);
  return Status::IO(msg);
}

}  // namespace strata
