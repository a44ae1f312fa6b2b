// How an S3 error reply becomes a Status: the code, whether RetryingStore may
// retry it, and a message naming the operation, the object, the HTTP status
// and S3's error code and message, e.g.
//   s3 get s3://b/p/branches/1/x: 403 AccessDenied: Access Denied; check the credentials ...
//
//   5xx, 429, SlowDown, RequestTimeout, InternalError, ... -> kIO, retryable
//   404 NoSuchKey (or a bare 404)  -> kNotFound
//   NoSuchBucket                   -> kInvalid: the bucket does not exist
//   401/403, bad or expired keys   -> kPermission: check the credentials
//   412 PreconditionFailed         -> kExists
//   416 InvalidRange               -> kInvalid
//   any other status               -> kIO, not retryable
#pragma once

#include <string_view>

#include "common/status.h"

namespace strata {

// `what` starts the message ("s3 get s3://b/k"); `bucket` is named when it is
// missing. `code` and `message` come from the <Error> body (or the
// x-amz-error-code header) and may be empty. A 2xx status with an error code
// (CompleteMultipartUpload can fail that way) is classified by the code, and
// is retryable when the code is unknown.
Status S3ErrorStatus(std::string_view what, std::string_view bucket, long http_status,
                     std::string_view code, std::string_view message);

}  // namespace strata
