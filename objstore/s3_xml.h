// The XML of the S3 REST API: pure functions over response and request bodies,
// on pugixml. No I/O; every function is thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace strata {

// One page of a ListObjectsV2 response.
struct S3ListPage {
  std::vector<std::string> keys;  // full object keys, in the order given
  bool truncated = false;         // more pages follow
  std::string next_token;         // NextContinuationToken; set when truncated
};

// Parses a <ListBucketResult>. kIO (not retryable) for anything else, or for a
// truncated page without a continuation token.
Result<S3ListPage> ParseListObjectsV2(std::string_view xml);

struct S3ErrorBody {
  std::string code;     // "NoSuchKey"
  std::string message;  // "The specified key does not exist."
};

// Parses an <Error> document (leading whitespace allowed: S3 pads a slow
// CompleteMultipartUpload reply with it). nullopt if `xml` is not one.
std::optional<S3ErrorBody> ParseS3Error(std::string_view xml);

// The UploadId of an <InitiateMultipartUploadResult>; kIO if absent.
Result<std::string> ParseInitiateMultipartUpload(std::string_view xml);

// OK for a <CompleteMultipartUploadResult>; kIO for any other document (an
// <Error> is the caller's to classify first, see ParseS3Error).
Status CheckCompleteMultipartUpload(std::string_view xml);

// The <CompleteMultipartUpload> request body for parts 1..etags.size(), part
// i+1 having ETag etags[i] (as the server returned it, quotes included).
std::string CompleteMultipartUploadXml(const std::vector<std::string>& etags);
// The body of a quiet DeleteObjects of `keys` (full object keys).
std::string DeleteObjectsXml(const std::vector<std::string>& keys);
// A DeleteObjects reply: OK if it lists no <Error>, else an error naming the
// first key and its code.
Status CheckDeleteObjectsResult(std::string_view xml);

}  // namespace strata
