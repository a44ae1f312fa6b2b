#include "objstore/s3_url.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace strata {
namespace {

EnvLookup Env(std::map<std::string, std::string> vars) { return MapEnv(std::move(vars)); }

S3Location Parse(const std::string& url, std::map<std::string, std::string> env = {}) {
  Result<S3Location> r = ParseS3Url(url, Env(std::move(env)));
  EXPECT_TRUE(r.ok()) << url << ": " << r.status().ToString();
  return r.ok() ? *r : S3Location{};
}

TEST(S3UrlTest, BucketAloneIsVirtualHostedOnAws) {
  S3Location l = Parse("s3://my-bucket");
  EXPECT_EQ(l.bucket, "my-bucket");
  EXPECT_EQ(l.prefix, "");
  EXPECT_EQ(l.region, "us-east-1");
  EXPECT_EQ(l.endpoint, "https://s3.us-east-1.amazonaws.com");
  EXPECT_FALSE(l.path_style);
  EXPECT_EQ(l.url, "s3://my-bucket");
  EXPECT_EQ(l.Host(), "my-bucket.s3.us-east-1.amazonaws.com");
  EXPECT_EQ(l.BaseUrl(), "https://my-bucket.s3.us-east-1.amazonaws.com");
  EXPECT_EQ(l.ObjectKey("a/b"), "a/b");
  EXPECT_EQ(l.RequestPath("a b"), "/a b");
  EXPECT_EQ(l.RequestPath(""), "/");
}

TEST(S3UrlTest, PrefixLosesOneTrailingSlash) {
  S3Location l = Parse("S3://b-1.x/p/q/");
  EXPECT_EQ(l.bucket, "b-1.x");
  EXPECT_EQ(l.prefix, "p/q");
  EXPECT_EQ(l.url, "s3://b-1.x/p/q");
  EXPECT_EQ(l.ObjectKey("k"), "p/q/k");
  EXPECT_EQ(l.ObjectKey(""), "p/q/");
  EXPECT_EQ(l.ObjectUrl("p/q/k"), "s3://b-1.x/p/q/k");
  EXPECT_EQ(Parse("s3://bkt/").prefix, "");
  // Taken literally: no percent-decoding in the path.
  EXPECT_EQ(Parse("s3://bkt/a%20b").prefix, "a%20b");
}

TEST(S3UrlTest, QueryParametersAndCanonicalUrl) {
  S3Location l = Parse("s3://bkt/p?region=eu-west-1&endpoint=HTTP://127.0.0.1:4568/");
  EXPECT_EQ(l.endpoint, "http://127.0.0.1:4568");
  EXPECT_EQ(l.region, "eu-west-1");
  EXPECT_TRUE(l.path_style) << "an explicit endpoint defaults to path style";
  EXPECT_EQ(l.url, "s3://bkt/p?endpoint=http://127.0.0.1:4568&region=eu-west-1");
  EXPECT_EQ(l.Host(), "127.0.0.1:4568");
  EXPECT_EQ(l.BaseUrl(), "http://127.0.0.1:4568");
  EXPECT_EQ(l.RequestPath("p/k"), "/bkt/p/k");
  EXPECT_EQ(l.RequestPath(""), "/bkt");

  S3Location v = Parse("s3://bkt?endpoint=https%3A%2F%2Fminio.local%3A9000&path_style=false");
  EXPECT_EQ(v.endpoint, "https://minio.local:9000");
  EXPECT_FALSE(v.path_style);
  EXPECT_EQ(v.Host(), "bkt.minio.local:9000");
  EXPECT_EQ(v.url, "s3://bkt?endpoint=https://minio.local:9000&path_style=false");
  EXPECT_TRUE(Parse("s3://bkt?path_style=1").path_style);
}

TEST(S3UrlTest, EnvironmentFillsWhatTheUrlLeavesOut) {
  S3Location l = Parse("s3://bkt/p", {{"AWS_ENDPOINT_URL", "http://other:1"},
                                      {"AWS_ENDPOINT_URL_S3", "http://s3only:2"},
                                      {"AWS_DEFAULT_REGION", "eu-north-1"},
                                      {"AWS_REGION", "ap-south-1"}});
  EXPECT_EQ(l.endpoint, "http://s3only:2");
  EXPECT_EQ(l.region, "ap-south-1");
  EXPECT_TRUE(l.path_style);
  EXPECT_EQ(l.url, "s3://bkt/p") << "only what the URL says is in the URL";

  S3Location d = Parse(
      "s3://bkt", {{"AWS_ENDPOINT_URL", "http://other:1"}, {"AWS_DEFAULT_REGION", "eu-north-1"}});
  EXPECT_EQ(d.endpoint, "http://other:1");
  EXPECT_EQ(d.region, "eu-north-1");

  S3Location r = Parse("s3://bkt", {{"AWS_REGION", "eu-central-1"}});
  EXPECT_EQ(r.endpoint, "https://s3.eu-central-1.amazonaws.com");
  EXPECT_FALSE(r.path_style);

  S3Location u = Parse("s3://bkt?endpoint=http://url:3&region=us-west-2",
                       {{"AWS_ENDPOINT_URL_S3", "http://env:2"}, {"AWS_REGION", "eu-west-1"}});
  EXPECT_EQ(u.endpoint, "http://url:3");
  EXPECT_EQ(u.region, "us-west-2");
}

TEST(S3UrlTest, RejectsMalformedUrlsWithOneClearMessage) {
  struct Case {
    std::string url, says;
  };
  for (const Case& c : {
           Case{"s3://", "no bucket"},
           Case{"s3:///p", "no bucket"},
           Case{"s3://Bucket", "lowercase"},
           Case{"s3://ab", "3 to 63"},
           Case{"s3://" + std::string(64, 'a'), "3 to 63"},
           Case{"s3://-bucket", "starts and ends"},
           Case{"s3://bucket-", "starts and ends"},
           Case{"s3://bucket_1", "lowercase"},
           Case{"s3://a..b", "\"..\""},
           Case{"s3://192.168.1.1", "IP address"},
           Case{"s3://xn--bucket", "reserved"},
           Case{"s3://bucket-s3alias", "reserved"},
           Case{"s3://bkt//p", "start with '/'"},
           Case{"s3://bkt/p//q", "\"//\""},
           Case{"s3://bkt/p//", "\"//\""},
           Case{"s3://bkt/p/../q", "\"..\" components"},
           Case{"s3://bkt/./q", "\"..\" components"},
           Case{"s3://bkt/p\tq", "control characters"},
           Case{"s3://bkt?foo=1", "unknown query parameter \"foo\""},
           Case{"s3://bkt?endpoint", "needs a value"},
           Case{"s3://bkt?endpoint=", "needs a value"},
           Case{"s3://bkt?region=eu-west-1&", "needs a value"},
           Case{"s3://bkt?endpoint=http%zz", "malformed %-escape"},
           Case{"s3://bkt?endpoint=ftp://host", "http[s]://host[:port]"},
           Case{"s3://bkt?endpoint=http://host/path", "http[s]://host[:port]"},
           Case{"s3://bkt?endpoint=http://", "http[s]://host[:port]"},
           Case{"s3://bkt?region=US-EAST-1", "region"},
           Case{"s3://bkt?path_style=maybe", "path_style"},
           Case{"s3://bkt?region=a&region=b", "given twice"},
       }) {
    Result<S3Location> r = ParseS3Url(c.url, Env({}));
    ASSERT_FALSE(r.ok()) << c.url;
    EXPECT_EQ(r.status().code(), Code::kInvalid) << c.url;
    const std::string& m = r.status().message();
    EXPECT_NE(m.find("\"" + c.url + "\""), std::string::npos) << m;
    EXPECT_NE(m.find(c.says), std::string::npos) << c.url << ": " << m;
    EXPECT_NE(m.find("expected s3://bucket[/prefix]"), std::string::npos) << m;
  }
}

TEST(S3UrlTest, BadEndpointFromTheEnvironmentNamesTheVariable) {
  Result<S3Location> r = ParseS3Url("s3://bkt", Env({{"AWS_ENDPOINT_URL", "localhost:9000"}}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalid);
  EXPECT_NE(r.status().message().find("AWS_ENDPOINT_URL=\"localhost:9000\""), std::string::npos)
      << r.status().message();
}

TEST(S3UrlTest, BucketNames) {
  for (const std::string& ok :
       std::vector<std::string>{"abc", "my.bucket-1", "0ab", std::string(63, 'z'), "1.2.3.4.5"}) {
    EXPECT_EQ(InvalidBucketReason(ok), "") << ok;
  }
  for (const std::string bad :
       {"", "a", "ABC", "a b", "a/b", ".ab", "ab.", "a..b", "10.0.0.1", "sthree-x", "x--ol-s3"}) {
    EXPECT_NE(InvalidBucketReason(bad), "") << bad;
  }
}

}  // namespace
}  // namespace strata
