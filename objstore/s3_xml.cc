#include "objstore/s3_xml.h"

#include <pugixml.hpp>
#include <sstream>

namespace strata {
namespace {

// Parses `xml` into `doc`; false if it is not well-formed.
bool Load(std::string_view xml, pugi::xml_document* doc) {
  return doc->load_buffer(xml.data(), xml.size(), pugi::parse_default, pugi::encoding_utf8);
}

std::string Snippet(std::string_view xml) {
  constexpr size_t kMax = 120;
  std::string s(xml.substr(0, kMax));
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return xml.size() > kMax ? s + "..." : s;
}

Status Malformed(std::string_view what, std::string_view xml) {
  return Status::IO("malformed " + std::string(what) + " response: \"" + Snippet(xml) + "\"");
}

}  // namespace

Result<S3ListPage> ParseListObjectsV2(std::string_view xml) {
  pugi::xml_document doc;
  pugi::xml_node root;
  if (!Load(xml, &doc) || !(root = doc.child("ListBucketResult"))) {
    return Malformed("ListObjectsV2", xml);
  }
  S3ListPage page;
  for (pugi::xml_node c : root.children("Contents")) {
    pugi::xml_node key = c.child("Key");
    if (!key) return Malformed("ListObjectsV2 (an entry without a Key)", xml);
    page.keys.emplace_back(key.text().get());
  }
  page.truncated = std::string_view(root.child("IsTruncated").text().get()) == "true";
  page.next_token = root.child("NextContinuationToken").text().get();
  if (page.truncated && page.next_token.empty()) {
    return Malformed("ListObjectsV2 (truncated without NextContinuationToken)", xml);
  }
  return page;
}

std::optional<S3ErrorBody> ParseS3Error(std::string_view xml) {
  pugi::xml_document doc;
  pugi::xml_node root;
  if (!Load(xml, &doc) || !(root = doc.child("Error"))) return std::nullopt;
  return S3ErrorBody{root.child("Code").text().get(), root.child("Message").text().get()};
}

Result<std::string> ParseInitiateMultipartUpload(std::string_view xml) {
  pugi::xml_document doc;
  if (!Load(xml, &doc)) return Malformed("CreateMultipartUpload", xml);
  std::string id = doc.child("InitiateMultipartUploadResult").child("UploadId").text().get();
  if (id.empty()) return Malformed("CreateMultipartUpload (no UploadId)", xml);
  return id;
}

Status CheckCompleteMultipartUpload(std::string_view xml) {
  pugi::xml_document doc;
  if (!Load(xml, &doc) || !doc.child("CompleteMultipartUploadResult")) {
    return Malformed("CompleteMultipartUpload", xml);
  }
  return Status::OK();
}

std::string CompleteMultipartUploadXml(const std::vector<std::string>& etags) {
  pugi::xml_document doc;
  pugi::xml_node root = doc.append_child("CompleteMultipartUpload");
  root.append_attribute("xmlns") = "http://s3.amazonaws.com/doc/2006-03-01/";
  for (size_t i = 0; i < etags.size(); i++) {
    pugi::xml_node part = root.append_child("Part");
    part.append_child("PartNumber").text() = static_cast<unsigned>(i + 1);
    part.append_child("ETag").text() = etags[i].c_str();
  }
  std::ostringstream out;
  doc.save(out, "", pugi::format_raw);
  return out.str();
}

std::string DeleteObjectsXml(const std::vector<std::string>& keys) {
  pugi::xml_document doc;
  pugi::xml_node root = doc.append_child("Delete");
  root.append_attribute("xmlns") = "http://s3.amazonaws.com/doc/2006-03-01/";
  root.append_child("Quiet").text() = "true";
  for (const std::string& k : keys)
    root.append_child("Object").append_child("Key").text() = k.c_str();
  std::ostringstream out;
  doc.save(out, "", pugi::format_raw);
  return out.str();
}

Status CheckDeleteObjectsResult(std::string_view xml) {
  pugi::xml_document doc;
  pugi::xml_node root;
  if (!Load(xml, &doc) || !(root = doc.child("DeleteResult"))) {
    return Malformed("DeleteObjects", xml);
  }
  pugi::xml_node err = root.child("Error");
  if (!err) return Status::OK();
  return Status::IO(std::string("could not delete ") + err.child("Key").text().get() + ": " +
                    err.child("Code").text().get() + " " + err.child("Message").text().get());
}

}  // namespace strata
