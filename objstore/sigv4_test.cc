#include "objstore/sigv4.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/crypto.h"

namespace strata::sigv4 {
namespace {

namespace fs = std::filesystem;

// --- AWS Signature Version 4 test suite (objstore/testdata/sigv4/README.md) ---

constexpr char kSuiteAccessKey[] = "AKIDEXAMPLE";
constexpr char kSuiteSecretKey[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr char kSuiteRegion[] = "us-east-1";
constexpr char kSuiteService[] = "service";
constexpr char kSuiteDate[] = "20150830T123600Z";

fs::path TestDataDir() { return fs::path(STRATA_SIGV4_TESTDATA); }

bool ReadFile(const fs::path& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

// The expected-output files may or may not end with a newline; the strings
// they hold never do.
std::string ReadExpected(const fs::path& path) {
  std::string s;
  EXPECT_TRUE(ReadFile(path, &s)) << path;
  if (s.ends_with("\r\n")) {
    s.resize(s.size() - 2);
  } else if (s.ends_with('\n')) {
    s.pop_back();
  }
  return s;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX -> byte; '+' stays '+' (AWS never treats it as a space).
std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 && HexValue(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// Parses a test-suite ".req" file (HTTP/1.1 text, "Name:value" headers, folded
// continuation lines, optional body after a blank line) into a request for the
// generic (normalizing) service.
bool ParseHttpRequest(const std::string& text, SigV4Request* req, std::string* error) {
  std::vector<std::string> lines;
  size_t pos = 0;
  size_t body_start = std::string::npos;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    if (line.ends_with('\r')) line.pop_back();
    pos = end + 1;
    if (line.empty() && !lines.empty()) {
      body_start = std::min(pos, text.size());
      break;
    }
    lines.push_back(std::move(line));
  }
  if (lines.empty()) {
    *error = "empty request";
    return false;
  }
  // Request line: METHOD SP target SP HTTP/1.1; the target may hold spaces.
  const std::string& first = lines[0];
  size_t sp1 = first.find(' ');
  size_t sp2 = first.rfind(' ');
  if (sp1 == std::string::npos || sp2 == sp1) {
    *error = "bad request line: " + first;
    return false;
  }
  req->method = first.substr(0, sp1);
  std::string target = first.substr(sp1 + 1, sp2 - sp1 - 1);
  size_t qmark = target.find('?');
  req->path = PercentDecode(target.substr(0, qmark));
  req->query.clear();
  if (qmark != std::string::npos) {
    std::string_view q = std::string_view(target).substr(qmark + 1);
    while (!q.empty()) {
      size_t amp = q.find('&');
      std::string_view part = q.substr(0, amp);
      size_t eq = part.find('=');
      std::string_view name = part.substr(0, eq);
      std::string_view value = eq == std::string_view::npos ? "" : part.substr(eq + 1);
      req->query.emplace_back(PercentDecode(name), PercentDecode(value));
      if (amp == std::string_view::npos) break;
      q.remove_prefix(amp + 1);
    }
  }
  req->headers.clear();
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (line[0] == ' ' || line[0] == '\t') {
      if (req->headers.empty()) {
        *error = "continuation before any header";
        return false;
      }
      // obs-fold: the line break becomes a space; the signer collapses runs.
      req->headers.back().second += " " + line;
      continue;
    }
    size_t colon = line.find(':');
    if (colon == std::string::npos) {
      *error = "bad header line: " + line;
      return false;
    }
    req->headers.emplace_back(line.substr(0, colon), line.substr(colon + 1));
  }
  std::string body = body_start == std::string::npos ? "" : text.substr(body_start);
  req->payload_hash = crypto::Sha256Hex(body);
  req->normalize_path = true;
  return true;
}

std::vector<std::string> SuiteCases() {
  std::vector<std::string> cases;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(TestDataDir(), ec)) {
    if (entry.is_directory()) cases.push_back(entry.path().filename().string());
  }
  std::sort(cases.begin(), cases.end());
  return cases;
}

class SigV4SuiteTest : public testing::TestWithParam<std::string> {};

TEST_P(SigV4SuiteTest, MatchesPublishedVector) {
  const std::string& name = GetParam();
  fs::path dir = TestDataDir() / name;
  std::string text;
  ASSERT_TRUE(ReadFile(dir / (name + ".req"), &text)) << dir;
  SigV4Request req;
  std::string error;
  ASSERT_TRUE(ParseHttpRequest(text, &req, &error)) << error;

  SigV4Credentials creds{kSuiteAccessKey, kSuiteSecretKey, ""};
  std::string token;
  if (ReadFile(dir / "session-token", &token)) creds.session_token = token;

  SigV4Signature sig = Sign(creds, req, kSuiteRegion, kSuiteService, kSuiteDate);
  EXPECT_EQ(sig.canonical_request, ReadExpected(dir / (name + ".creq")));
  EXPECT_EQ(sig.string_to_sign, ReadExpected(dir / (name + ".sts")));
  EXPECT_EQ(sig.authorization, ReadExpected(dir / (name + ".authz")));
}

INSTANTIATE_TEST_SUITE_P(SigV4Aws, SigV4SuiteTest, testing::ValuesIn(SuiteCases()),
                         [](const testing::TestParamInfo<std::string>& info) {
                           std::string n = info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

// The suite must not silently shrink: these cases are the ones the S3 signer
// leans on (query encoding and order, header canonicalization, body hash,
// path encoding, session token).
TEST(SigV4SuiteFiles, RequiredCasesArePresent) {
  std::vector<std::string> cases = SuiteCases();
  for (const char* required :
       {"get-vanilla", "get-vanilla-query", "get-vanilla-query-order-key-case",
        "get-vanilla-query-unreserved", "get-vanilla-utf8-query", "get-header-key-duplicate",
        "get-header-value-multiline", "get-header-value-trim", "get-space", "post-vanilla",
        "post-x-www-form-urlencoded", "post-header-value-case", "get-vanilla-with-session-token"}) {
    EXPECT_NE(std::find(cases.begin(), cases.end(), required), cases.end()) << required;
  }
}

// --- S3's own documented example (S3 API Reference, "Signature Calculations
// for the Authorization Header: Transferring Payload in a Single Chunk"). ---

constexpr char kS3AccessKey[] = "AKIAIOSFODNN7EXAMPLE";
constexpr char kS3SecretKey[] = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
constexpr char kS3Date[] = "20130524T000000Z";
constexpr char kS3Host[] = "examplebucket.s3.amazonaws.com";

SigV4Request S3Request(std::string method, std::string path) {
  SigV4Request req;
  req.method = std::move(method);
  req.path = std::move(path);
  req.normalize_path = false;
  req.headers = {{"Host", kS3Host}};
  req.payload_hash = std::string(kEmptyPayloadSha256);
  req.add_content_sha256_header = true;
  return req;
}

SigV4Signature SignS3(const SigV4Request& req) {
  return Sign({kS3AccessKey, kS3SecretKey, ""}, req, "us-east-1", "s3", kS3Date);
}

TEST(SigV4S3, GetObjectWithRange) {
  SigV4Request req = S3Request("GET", "/test.txt");
  req.headers.emplace_back("Range", "bytes=0-9");
  SigV4Signature sig = SignS3(req);
  EXPECT_EQ(
      sig.canonical_request,
      "GET\n"
      "/test.txt\n"
      "\n"
      "host:examplebucket.s3.amazonaws.com\n"
      "range:bytes=0-9\n"
      "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
      "x-amz-date:20130524T000000Z\n"
      "\n"
      "host;range;x-amz-content-sha256;x-amz-date\n"
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sig.string_to_sign,
            "AWS4-HMAC-SHA256\n"
            "20130524T000000Z\n"
            "20130524/us-east-1/s3/aws4_request\n"
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  EXPECT_EQ(sig.signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  EXPECT_EQ(sig.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  // The headers the signer added are the ones the HTTP layer must send.
  KeyValues want = {{"X-Amz-Date", "20130524T000000Z"},
                    {"x-amz-content-sha256", std::string(kEmptyPayloadSha256)}};
  EXPECT_EQ(sig.added_headers, want);
}

// Same page, "Example: PUT Object": a body hash, a Date header, and a key whose
// '$' must be encoded exactly once.
TEST(SigV4S3, PutObjectEncodesKeyOnce) {
  SigV4Request req = S3Request("PUT", "/test$file.text");
  req.headers.emplace_back("Date", "Fri, 24 May 2013 00:00:00 GMT");
  req.headers.emplace_back("x-amz-storage-class", "REDUCED_REDUNDANCY");
  req.payload_hash = crypto::Sha256Hex("Welcome to Amazon S3.");
  EXPECT_EQ(req.payload_hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  SigV4Signature sig = SignS3(req);
  EXPECT_EQ(
      sig.canonical_request,
      "PUT\n"
      "/test%24file.text\n"
      "\n"
      "date:Fri, 24 May 2013 00:00:00 GMT\n"
      "host:examplebucket.s3.amazonaws.com\n"
      "x-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n"
      "x-amz-date:20130524T000000Z\n"
      "x-amz-storage-class:REDUCED_REDUNDANCY\n"
      "\n"
      "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
      "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  EXPECT_EQ(sig.string_to_sign,
            "AWS4-HMAC-SHA256\n"
            "20130524T000000Z\n"
            "20130524/us-east-1/s3/aws4_request\n"
            "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d");
  EXPECT_EQ(sig.signature, "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

// Same page, "GET Bucket Lifecycle" (a bare ?lifecycle) and "Get Bucket (List
// Objects)" (two parameters given out of order).
TEST(SigV4S3, QueryExamples) {
  SigV4Request lifecycle = S3Request("GET", "/");
  lifecycle.query = {{"lifecycle", ""}};
  EXPECT_EQ(SignS3(lifecycle).signature,
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");

  SigV4Request list = S3Request("GET", "/");
  list.query = {{"prefix", "J"}, {"max-keys", "2"}};
  EXPECT_EQ(SignS3(list).signature,
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

// --- The steps on their own. ---

TEST(SigV4Steps, UriEncode) {
  EXPECT_EQ(UriEncode("AZaz09-._~", true), "AZaz09-._~");
  EXPECT_EQ(UriEncode("a b+c=d&e", true), "a%20b%2Bc%3Dd%26e");
  EXPECT_EQ(UriEncode("a/b", true), "a%2Fb");
  EXPECT_EQ(UriEncode("a/b", false), "a/b");
  EXPECT_EQ(UriEncode("100%", false), "100%25");  // never decodes
  EXPECT_EQ(UriEncode("\xe1\x88\xb4", false), "%E1%88%B4");
  EXPECT_EQ(UriEncode(std::string_view("\0\xff", 2), false), "%00%FF");
  EXPECT_EQ(UriEncode("!*'()$,;:@", false), "%21%2A%27%28%29%24%2C%3B%3A%40");
}

TEST(SigV4Steps, NormalizePath) {
  EXPECT_EQ(NormalizePath(""), "/");
  EXPECT_EQ(NormalizePath("/"), "/");
  EXPECT_EQ(NormalizePath("//"), "/");
  EXPECT_EQ(NormalizePath("/./"), "/");
  EXPECT_EQ(NormalizePath("/example/.."), "/");
  EXPECT_EQ(NormalizePath("//example//"), "/example/");
  EXPECT_EQ(NormalizePath("/a/./b/../c//"), "/a/c/");
  EXPECT_EQ(NormalizePath("/a/b/.."), "/a/");
  EXPECT_EQ(NormalizePath("/../../a"), "/a");
  EXPECT_EQ(NormalizePath("/a/b"), "/a/b");
}

TEST(SigV4Steps, CanonicalUriKeepsS3KeysVerbatim) {
  // An S3 key may hold "//", "." and ".." components: never normalized.
  EXPECT_EQ(CanonicalUri("/bucket/a//b/./c/../d e", false), "/bucket/a//b/./c/../d%20e");
  EXPECT_EQ(CanonicalUri("/bucket/a//b/./c/../d e", true), "/bucket/a/b/d%20e");
  EXPECT_EQ(CanonicalUri("", false), "/");
}

TEST(SigV4Steps, CanonicalQueryString) {
  EXPECT_EQ(CanonicalQueryString({}), "");
  EXPECT_EQ(CanonicalQueryString({{"uploads", ""}}), "uploads=");
  // Sorted by encoded name, then encoded value (byte order: 'V' < 'v').
  EXPECT_EQ(CanonicalQueryString({{"b", "2"}, {"a", "x+y"}, {"a", "x y"}, {"A", "1"}}),
            "A=1&a=x%20y&a=x%2By&b=2");
  EXPECT_EQ(CanonicalQueryString({{"uploadId", "a/b+c=="}, {"partNumber", "2"}}),
            "partNumber=2&uploadId=a%2Fb%2Bc%3D%3D");
  EXPECT_EQ(CanonicalQueryString({{"list-type", "2"}, {"continuation-token", "1/Ab+=="}}),
            "continuation-token=1%2FAb%2B%3D%3D&list-type=2");
}

TEST(SigV4Steps, CanonicalAndSignedHeaders) {
  KeyValues headers = {{"X-B", "  two   words\t here "},
                       {"host", "h"},
                       {"x-a", "1"},
                       {"X-A", "2"},
                       {"x-c", "\"a   b\""}};
  EXPECT_EQ(CanonicalHeaders(headers), "host:h\nx-a:1,2\nx-b:two words here\nx-c:\"a b\"\n");
  EXPECT_EQ(SignedHeaders(headers), "host;x-a;x-b;x-c");
}

TEST(SigV4Steps, SigningKeyMatchesAwsExample) {
  // AWS General Reference, "Examples of how to derive a signing key".
  EXPECT_EQ(crypto::HexEncode(SigningKey(kSuiteSecretKey, "20150830", "us-east-1", "iam")),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
}

TEST(SigV4Steps, AmzDate) {
  EXPECT_EQ(AmzDate(std::chrono::system_clock::from_time_t(1369353600)), "20130524T000000Z");
  EXPECT_EQ(AmzDate(std::chrono::system_clock::from_time_t(1440938160)), kSuiteDate);
  EXPECT_EQ(crypto::Sha256Hex(""), kEmptyPayloadSha256);
}

TEST(SigV4Sign, DoesNotDuplicateHeadersTheCallerSet) {
  SigV4Request req = S3Request("GET", "/k");
  req.headers.emplace_back("X-AMZ-DATE", kS3Date);
  req.headers.emplace_back("X-Amz-Content-Sha256", std::string(kUnsignedPayload));
  req.headers.emplace_back("x-amz-security-token", "tok");
  req.payload_hash = std::string(kUnsignedPayload);
  SigV4Signature sig = Sign({kS3AccessKey, kS3SecretKey, "tok"}, req, "us-east-1", "s3", kS3Date);
  EXPECT_TRUE(sig.added_headers.empty());
  EXPECT_EQ(sig.signed_headers, "host;x-amz-content-sha256;x-amz-date;x-amz-security-token");
  EXPECT_TRUE(sig.canonical_request.ends_with("\nUNSIGNED-PAYLOAD"));
}

TEST(SigV4Sign, EveryInputChangesTheSignature) {
  SigV4Request base = S3Request("GET", "/k");
  std::string s0 = SignS3(base).signature;
  SigV4Request other = base;
  other.path = "/K";
  EXPECT_NE(SignS3(other).signature, s0);
  other = base;
  other.query = {{"a", ""}};
  EXPECT_NE(SignS3(other).signature, s0);
  other = base;
  other.headers.emplace_back("If-None-Match", "*");
  EXPECT_NE(SignS3(other).signature, s0);
  other = base;
  other.payload_hash = crypto::Sha256Hex("x");
  EXPECT_NE(SignS3(other).signature, s0);
  EXPECT_NE(Sign({kS3AccessKey, "other", ""}, base, "us-east-1", "s3", kS3Date).signature, s0);
  EXPECT_NE(Sign({kS3AccessKey, kS3SecretKey, ""}, base, "eu-west-1", "s3", kS3Date).signature, s0);
}

}  // namespace
}  // namespace strata::sigv4
