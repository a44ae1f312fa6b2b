#include "objstore/s3_error.h"

#include <gtest/gtest.h>

namespace strata {
namespace {

constexpr char kWhat[] = "s3 get s3://b/p/branches/1/x";

TEST(S3ErrorTest, MessageNamesOperationObjectStatusAndCode) {
  Status s = S3ErrorStatus(kWhat, "b", 403, "AccessDenied", "Access Denied");
  EXPECT_EQ(s.message().rfind("s3 get s3://b/p/branches/1/x: 403 AccessDenied: Access Denied", 0),
            0u)
      << s.message();
  EXPECT_NE(s.message().find("check the credentials"), std::string::npos);
  EXPECT_EQ(S3ErrorStatus(kWhat, "b", 502, "", "").message(), std::string(kWhat) + ": HTTP 502");
}

TEST(S3ErrorTest, Classification) {
  struct Case {
    long http;
    std::string code;
    Code want;
    bool retryable;
  };
  for (const Case& c : {
           Case{500, "InternalError", Code::kIO, true},
           Case{503, "SlowDown", Code::kIO, true},
           Case{503, "", Code::kIO, true},
           Case{502, "", Code::kIO, true},
           Case{429, "", Code::kIO, true},
           Case{400, "RequestTimeout", Code::kIO, true},
           Case{409, "OperationAborted", Code::kIO, true},
           Case{409, "ConditionalRequestConflict", Code::kIO, true},
           Case{200, "InternalError", Code::kIO, true},
           Case{200, "SomethingNew", Code::kIO, true},
           Case{307, "TemporaryRedirect", Code::kIO, true},
           Case{404, "NoSuchKey", Code::kNotFound, false},
           Case{404, "", Code::kNotFound, false},
           Case{404, "NoSuchBucket", Code::kInvalid, false},
           Case{404, "NoSuchUpload", Code::kIO, false},
           Case{403, "AccessDenied", Code::kPermission, false},
           Case{403, "InvalidAccessKeyId", Code::kPermission, false},
           Case{403, "SignatureDoesNotMatch", Code::kPermission, false},
           Case{400, "ExpiredToken", Code::kPermission, false},
           Case{401, "", Code::kPermission, false},
           Case{403, "", Code::kPermission, false},
           Case{403, "RequestTimeTooSkewed", Code::kIO, false},
           Case{412, "PreconditionFailed", Code::kExists, false},
           Case{412, "", Code::kExists, false},
           Case{416, "InvalidRange", Code::kInvalid, false},
           Case{400, "InvalidArgument", Code::kIO, false},
           Case{400, "EntityTooSmall", Code::kIO, false},
           Case{301, "PermanentRedirect", Code::kIO, false},
           Case{405, "MethodNotAllowed", Code::kIO, false},
       }) {
    Status s = S3ErrorStatus(kWhat, "b", c.http, c.code, "msg");
    EXPECT_EQ(s.code(), c.want) << c.http << " " << c.code << ": " << s.ToString();
    EXPECT_EQ(s.retryable(), c.retryable) << c.http << " " << c.code << ": " << s.ToString();
  }
}

TEST(S3ErrorTest, MissingBucketDoesNotLookLikeAMissingKey) {
  Status s =
      S3ErrorStatus(kWhat, "my-bucket", 404, "NoSuchBucket", "The specified bucket does not exist");
  EXPECT_FALSE(s.IsNotFound());
  EXPECT_FALSE(s.retryable());
  EXPECT_NE(s.message().find("bucket \"my-bucket\" does not exist"), std::string::npos)
      << s.message();
}

TEST(S3ErrorTest, Hints) {
  EXPECT_NE(S3ErrorStatus(kWhat, "b", 403, "RequestTimeTooSkewed", "").message().find("clock"),
            std::string::npos);
  EXPECT_NE(S3ErrorStatus(kWhat, "b", 301, "PermanentRedirect", "").message().find("region"),
            std::string::npos);
}

}  // namespace
}  // namespace strata
