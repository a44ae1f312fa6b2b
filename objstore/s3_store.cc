#include "objstore/s3_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <system_error>
#include <thread>

#include "common/mutex.h"
#include "objstore/s3_client.h"

namespace strata {
namespace {

constexpr uint64_t kMaxParts = 10000;  // S3's limit per multipart upload

S3StoreOptions Sanitized(S3StoreOptions o) {
  o.part_size = std::max<uint64_t>(o.part_size, 1);
  o.max_parallel_parts = std::max(o.max_parallel_parts, 1);
  o.list_max_keys = std::max(o.list_max_keys, 0);
  return o;
}

}  // namespace

Result<std::unique_ptr<S3ObjectStore>> S3ObjectStore::Open(const std::string& url,
                                                           S3StoreOptions options,
                                                           const EnvLookup& env) {
  STRATA_ASSIGN_OR_RETURN(S3Location location, ParseS3Url(url, env));
  Result<S3Credentials> creds = ResolveS3Credentials(env);
  if (!creds.ok()) {
    return Status::Invalid("store " + location.url + ": " + creds.status().message());
  }
  spdlog::debug("store {}: credentials from {}", location.url, creds->source);
  return std::make_unique<S3ObjectStore>(std::move(location), std::move(creds).value(),
                                         std::move(options));
}

S3ObjectStore::S3ObjectStore(S3Location location, S3Credentials credentials, S3StoreOptions options)
    : options_(Sanitized(std::move(options))),
      client_(
          std::make_unique<S3Client>(std::move(location), std::move(credentials), options_.http)) {}

S3ObjectStore::~S3ObjectStore() = default;

const S3Location& S3ObjectStore::location() const { return client_->location(); }

std::string S3ObjectStore::Url() const { return client_->location().url; }

Status S3ObjectStore::CheckKey(std::string_view op, const std::string& key) const {
  std::string_view why = InvalidKeyReason(key);
  if (why.empty()) return Status::OK();
  std::string shown = key;
  std::replace(shown.begin(), shown.end(), '\0', '?');
  return Status::Invalid("s3 store " + Url() + ": " + std::string(op) + ": invalid key \"" + shown +
                         "\": " + std::string(why));
}

Status S3ObjectStore::Put(const std::string& key, std::string_view data) {
  return PutImpl(key, data, /*if_absent=*/false);
}

Status S3ObjectStore::PutIfAbsent(const std::string& key, std::string_view data) {
  return PutImpl(key, data, /*if_absent=*/true);
}

Status S3ObjectStore::PutImpl(const std::string& key, std::string_view data, bool if_absent) {
  std::string_view op = if_absent ? "put-if-absent" : "put";
  STRATA_RETURN_IF_ERROR(CheckKey(op, key));
  const std::string object_key = location().ObjectKey(key);
  if (data.size() > options_.multipart_threshold) {
    return PutMultipart(op, object_key, data, if_absent);
  }
  return client_->PutObject(op, object_key, data, if_absent);
}

Status S3ObjectStore::PutMultipart(std::string_view op, const std::string& object_key,
                                   std::string_view data, bool if_absent) {
  if (if_absent) {
    // Only a shortcut, so that a large object is not uploaded in vain; the
    // conditional CompleteMultipartUpload below is what decides.
    Result<uint64_t> size = client_->HeadObject(op, object_key);
    if (size.ok()) {
      return Status::Exists("s3 " + std::string(op) + " " + location().ObjectUrl(object_key) +
                            ": object already exists");
    }
    if (!size.status().IsNotFound()) return size.status();
  }
  const uint64_t part_size =
      std::max(options_.part_size, (data.size() + kMaxParts - 1) / kMaxParts);
  const size_t parts = static_cast<size_t>((data.size() + part_size - 1) / part_size);
  STRATA_ASSIGN_OR_RETURN(std::string upload_id, client_->CreateMultipartUpload(op, object_key));

  std::vector<std::string> etags(parts);
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  Mutex mu;
  Status first_error;  // guarded by mu (a local: the checker cannot follow)
  auto upload = [&] {
    while (!failed.load()) {
      const size_t i = next.fetch_add(1);
      if (i >= parts) return;
      Result<std::string> etag =
          client_->UploadPart(op, object_key, upload_id, static_cast<int>(i + 1),
                              data.substr(i * part_size, part_size));
      if (!etag.ok()) {
        MutexLock l(&mu);
        if (first_error.ok()) first_error = etag.status();
        failed.store(true);
        return;
      }
      etags[i] = std::move(etag).value();
    }
  };
  std::vector<std::thread> helpers;
  const size_t want = std::min<size_t>(parts, static_cast<size_t>(options_.max_parallel_parts));
  for (size_t t = 1; t < want; t++) {
    try {
      helpers.emplace_back(upload);
    } catch (const std::system_error&) {
      break;  // no thread to be had: the calling thread uploads the rest
    }
  }
  upload();
  for (std::thread& t : helpers) t.join();

  Status s = first_error;
  if (s.ok()) s = client_->CompleteMultipartUpload(op, object_key, upload_id, etags, if_absent);
  if (!s.ok()) {
    if (Status a = client_->AbortMultipartUpload(op, object_key, upload_id); !a.ok()) {
      spdlog::warn("{}; its parts stay stored until a lifecycle rule removes incomplete uploads",
                   a.ToString());
    }
  }
  return s;
}

Result<std::string> S3ObjectStore::Get(const std::string& key) {
  STRATA_RETURN_IF_ERROR(CheckKey("get", key));
  return client_->GetObject("get", location().ObjectKey(key));
}

Result<std::string> S3ObjectStore::GetRange(const std::string& key, uint64_t offset, uint64_t len) {
  STRATA_RETURN_IF_ERROR(CheckKey("get-range", key));
  const std::string object_key = location().ObjectKey(key);
  if (len > 0) return client_->GetObjectRange("get-range", object_key, offset, len);
  // HTTP cannot ask for zero bytes; the object must still exist and be long enough.
  STRATA_ASSIGN_OR_RETURN(uint64_t size, client_->HeadObject("get-range", object_key));
  if (offset > size) {
    return Status::Invalid("s3 get-range " + location().ObjectUrl(object_key) + ": range [" +
                           std::to_string(offset) + ", +0) runs past the end of the object (" +
                           std::to_string(size) + " bytes)");
  }
  return std::string();
}

Result<uint64_t> S3ObjectStore::Size(const std::string& key) {
  STRATA_RETURN_IF_ERROR(CheckKey("size", key));
  return client_->HeadObject("size", location().ObjectKey(key));
}

Result<std::vector<std::string>> S3ObjectStore::List(const std::string& prefix) {
  if (!prefix.empty() && (prefix.front() == '/' || prefix.find("..") != std::string::npos ||
                          prefix.find('\0') != std::string::npos)) {
    return Status::Invalid("s3 store " + Url() + ": list " + prefix +
                           ": invalid prefix (must be relative, without \"..\")");
  }
  // Keys come back as "<store prefix>/<key>"; strip the first part.
  const std::string base = location().ObjectKey("");
  std::vector<std::string> keys;
  std::string token;
  do {
    STRATA_ASSIGN_OR_RETURN(S3ListPage page, client_->ListObjects("list", base + prefix, token,
                                                                  options_.list_max_keys));
    for (std::string& k : page.keys) {
      if (!k.starts_with(base)) continue;
      std::string key = k.substr(base.size());
      // Skips "LOCK" (the lease object of daemons from before shared stores)
      // and objects that other tools may have put under the prefix with names
      // no store key can have ("a//b").
      if (InvalidKeyReason(key).empty()) keys.push_back(std::move(key));
    }
    token = page.truncated ? std::move(page.next_token) : std::string();
  } while (!token.empty());
  std::sort(keys.begin(), keys.end());
  return keys;
}

Status S3ObjectStore::Delete(const std::string& key) {
  STRATA_RETURN_IF_ERROR(CheckKey("delete", key));
  return client_->DeleteObject("delete", location().ObjectKey(key));
}

Status S3ObjectStore::DeleteMany(const std::vector<std::string>& keys) {
  for (const std::string& key : keys) STRATA_RETURN_IF_ERROR(CheckKey("delete", key));
  for (size_t i = 0; i < keys.size(); i += kMaxDeleteBatch) {
    std::vector<std::string> batch;
    for (size_t j = i; j < std::min(keys.size(), i + kMaxDeleteBatch); j++) {
      batch.push_back(location().ObjectKey(keys[j]));
    }
    STRATA_RETURN_IF_ERROR(client_->DeleteObjects("delete", batch));
  }
  return Status::OK();
}

}  // namespace strata
