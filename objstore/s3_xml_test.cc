#include "objstore/s3_xml.h"

#include <gtest/gtest.h>

#include <pugixml.hpp>

namespace strata {
namespace {

TEST(S3XmlTest, ListObjectsV2Page) {
  Result<S3ListPage> p = ParseListObjectsV2(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<Name>b</Name><Prefix>p/</Prefix><KeyCount>3</KeyCount><MaxKeys>3</MaxKeys>"
      "<IsTruncated>true</IsTruncated><NextContinuationToken>tok/+=</NextContinuationToken>"
      "<Contents><Key>p/a&amp;b</Key><Size>1</Size></Contents>"
      "<Contents><Key>p/caf\xc3\xa9 &#x27;x&#39;</Key></Contents>"
      "<Contents><Key>p/&lt;k&gt;</Key></Contents>"
      "</ListBucketResult>");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->keys, (std::vector<std::string>{"p/a&b", "p/caf\xc3\xa9 'x'", "p/<k>"}));
  EXPECT_TRUE(p->truncated);
  EXPECT_EQ(p->next_token, "tok/+=");
}

TEST(S3XmlTest, ListObjectsV2LastAndEmptyPages) {
  Result<S3ListPage> p = ParseListObjectsV2(
      "<ListBucketResult><IsTruncated>false</IsTruncated>"
      "<Contents><Key>k</Key></Contents></ListBucketResult>");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->keys, std::vector<std::string>{"k"});
  EXPECT_FALSE(p->truncated);
  Result<S3ListPage> e = ParseListObjectsV2(
      "<ListBucketResult><KeyCount>0</KeyCount>"
      "<IsTruncated>false</IsTruncated></ListBucketResult>");
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->keys.empty());
}

TEST(S3XmlTest, ListObjectsV2Malformed) {
  for (const char* xml : {
           "",
           "not xml",
           "<ListBucketResult><Contents><Key>a</Key></Contents>",  // cut short
           "<Error><Code>x</Code></Error>",
           "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
           "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
       }) {
    Result<S3ListPage> p = ParseListObjectsV2(xml);
    ASSERT_FALSE(p.ok()) << xml;
    EXPECT_EQ(p.status().code(), Code::kIO);
    EXPECT_FALSE(p.status().retryable());
    EXPECT_NE(p.status().message().find("ListObjectsV2"), std::string::npos);
  }
}

TEST(S3XmlTest, ErrorBodies) {
  std::optional<S3ErrorBody> e = ParseS3Error(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>"
      "<Message>The specified key does not exist.</Message><Key>a</Key></Error>");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, "NoSuchKey");
  EXPECT_EQ(e->message, "The specified key does not exist.");

  // CompleteMultipartUpload pads its slow 200 reply with whitespace.
  std::optional<S3ErrorBody> padded = ParseS3Error(
      "\n   \n  <?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message>"
      "</Error>");
  ASSERT_TRUE(padded.has_value());
  EXPECT_EQ(padded->code, "InternalError");

  std::optional<S3ErrorBody> bare = ParseS3Error("<Error><Code>SlowDown</Code></Error>");
  ASSERT_TRUE(bare.has_value());
  EXPECT_EQ(bare->message, "");

  EXPECT_FALSE(ParseS3Error(""));
  EXPECT_FALSE(ParseS3Error("<html>502 Bad Gateway</html>"));
  EXPECT_FALSE(ParseS3Error("<CompleteMultipartUploadResult/>"));
}

TEST(S3XmlTest, MultipartDocuments) {
  Result<std::string> id = ParseInitiateMultipartUpload(
      "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"
      "<UploadId>VXBsb2FkIElE</UploadId></InitiateMultipartUploadResult>");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, "VXBsb2FkIElE");
  EXPECT_FALSE(ParseInitiateMultipartUpload("<InitiateMultipartUploadResult/>").ok());
  EXPECT_FALSE(ParseInitiateMultipartUpload("<x").ok());

  EXPECT_TRUE(CheckCompleteMultipartUpload(
                  " <?xml version=\"1.0\"?><CompleteMultipartUploadResult><ETag>\"e\"</ETag>"
                  "</CompleteMultipartUploadResult>")
                  .ok());
  EXPECT_FALSE(CheckCompleteMultipartUpload("").ok());
  EXPECT_FALSE(CheckCompleteMultipartUpload("<Error/>").ok());
}

TEST(S3XmlTest, CompleteMultipartUploadBodyRoundTrips) {
  std::string xml = CompleteMultipartUploadXml({"\"etag1\"", "\"a<&>b\""});
  pugi::xml_document doc;
  ASSERT_TRUE(doc.load_string(xml.c_str())) << xml;
  pugi::xml_node root = doc.child("CompleteMultipartUpload");
  ASSERT_TRUE(root) << xml;
  std::vector<std::pair<int, std::string>> parts;
  for (pugi::xml_node p : root.children("Part")) {
    parts.emplace_back(p.child("PartNumber").text().as_int(), p.child("ETag").text().get());
  }
  EXPECT_EQ(parts, (std::vector<std::pair<int, std::string>>{{1, "\"etag1\""}, {2, "\"a<&>b\""}}));
}

TEST(S3XmlTest, DeleteObjectsDocuments) {
  const std::string body = DeleteObjectsXml({"p/a", "p/<&>\"'"});
  EXPECT_EQ(body,
            "<?xml version=\"1.0\"?>"
            "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>"
            "<Object><Key>p/a</Key></Object><Object><Key>p/&lt;&amp;&gt;\"'</Key></Object>"
            "</Delete>");
  EXPECT_TRUE(CheckDeleteObjectsResult("<DeleteResult/>").ok());
  EXPECT_TRUE(
      CheckDeleteObjectsResult("<DeleteResult><Deleted><Key>p/a</Key></Deleted></DeleteResult>")
          .ok());
  Status st = CheckDeleteObjectsResult(
      "<DeleteResult><Error><Key>p/b</Key><Code>AccessDenied</Code><Message>no</Message>"
      "</Error></DeleteResult>");
  EXPECT_EQ(st.code(), Code::kIO);
  EXPECT_NE(st.message().find("p/b: AccessDenied"), std::string::npos) << st.ToString();
  EXPECT_FALSE(CheckDeleteObjectsResult("<Other/>").ok());
  EXPECT_FALSE(CheckDeleteObjectsResult("not xml").ok());
}

}  // namespace
}  // namespace strata
