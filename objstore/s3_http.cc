#include "objstore/s3_http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/net.h"
#include "common/text.h"

namespace strata {
namespace {

// curl_global_init is not thread-safe and must run before any other curl call;
// it runs once per process and is never undone (the process may have other
// clients until exit). With CURLOPT_NOSIGNAL (required with threads) curl
// leaves SIGPIPE alone, and OpenSSL writing to a connection the server closed
// would kill the process: SIGPIPE is ignored unless the program handles it.
CURLcode GlobalInit() {
  static const CURLcode rc = [] {
    IgnoreSigpipe();
    return curl_global_init(CURL_GLOBAL_DEFAULT);
  }();
  return rc;
}

// What one transfer reads from and writes to.
struct Transfer {
  std::string_view upload;
  size_t uploaded = 0;
  HttpResponse* response;
  bool expect_body;  // false for HEAD, whose Content-Length describes no body
};

size_t OnBody(char* data, size_t size, size_t n, void* arg) {
  auto* t = static_cast<Transfer*>(arg);
  t->response->body.append(data, size * n);
  return size * n;
}

size_t OnHeader(char* data, size_t size, size_t n, void* arg) {
  auto* t = static_cast<Transfer*>(arg);
  std::string_view line(data, size * n);
  if (line.starts_with("HTTP/")) {
    // A new status line (after "100 Continue", say): forget earlier headers.
    t->response->headers.clear();
  } else if (size_t colon = line.find(':'); colon != std::string_view::npos) {
    std::string name = AsciiLower(TrimAsciiSpace(line.substr(0, colon)));
    std::string value(TrimAsciiSpace(line.substr(colon + 1)));
    if (name == "content-length" && t->expect_body) {
      // A hint only, capped: the body is whatever arrives (curl checks its length).
      uint64_t len = std::strtoull(value.c_str(), nullptr, 10);
      t->response->body.reserve(std::min<uint64_t>(len, uint64_t{256} << 20));
    }
    t->response->headers.emplace_back(std::move(name), std::move(value));
  }
  return size * n;
}

size_t OnRead(char* buf, size_t size, size_t n, void* arg) {
  auto* t = static_cast<Transfer*>(arg);
  size_t len = std::min(size * n, t->upload.size() - t->uploaded);
  std::memcpy(buf, t->upload.data() + t->uploaded, len);
  t->uploaded += len;
  return len;
}

// curl rewinds the body when it must resend it (a reused connection that
// turned out dead, say).
int OnSeek(void* arg, curl_off_t offset, int origin) {
  auto* t = static_cast<Transfer*>(arg);
  if (origin != SEEK_SET || offset < 0 || static_cast<uint64_t>(offset) > t->upload.size()) {
    return CURL_SEEKFUNC_CANTSEEK;
  }
  t->uploaded = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

// Errors that another attempt cannot fix.
bool IsPermanent(CURLcode rc) {
  switch (rc) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_UNKNOWN_OPTION:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
      return true;
    default:
      return false;
  }
}

}  // namespace

const std::string* HttpResponse::Header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return &value;
  }
  return nullptr;
}

// One DNS and TLS-session cache for every handle of a client. curl calls the
// lock functions around each use; one mutex per kind of shared data.
struct HttpClient::Share {
  Share() {
    sh = curl_share_init();
    if (sh == nullptr) return;
    curl_share_setopt(sh, CURLSHOPT_LOCKFUNC, &Share::Lock);
    curl_share_setopt(sh, CURLSHOPT_UNLOCKFUNC, &Share::Unlock);
    curl_share_setopt(sh, CURLSHOPT_USERDATA, this);
    curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  }
  ~Share() {
    if (sh != nullptr) curl_share_cleanup(sh);
  }
  // curl takes a lock in one callback and releases it in another.
  static void Lock(CURL*, curl_lock_data data, curl_lock_access, void* self)
      NO_THREAD_SAFETY_ANALYSIS {  // released by Unlock, a separate callback
    static_cast<Share*>(self)->mu[data % kLocks].Lock();
  }
  static void Unlock(CURL*, curl_lock_data data,
                     void* self) NO_THREAD_SAFETY_ANALYSIS {  // taken by Lock, a separate callback
    static_cast<Share*>(self)->mu[data % kLocks].Unlock();
  }

  static constexpr int kLocks = CURL_LOCK_DATA_LAST;
  CURLSH* sh = nullptr;
  // One per kind of shared data (DNS, TLS sessions); leaves, taken only by
  // curl for the time it touches that data.
  Mutex mu[kLocks];
};

// Gives a handle back to the pool when a request is done with it.
struct HttpClient::HandleReturner {
  HttpClient* client;
  void operator()(void* curl) const { client->ReturnHandle(curl); }
};

HttpClient::HttpClient(HttpOptions options)
    : options_(options), share_((GlobalInit(), std::make_unique<Share>())) {}

HttpClient::~HttpClient() {
  for (void* curl : idle_) curl_easy_cleanup(curl);
}

Result<HttpClient::Handle> HttpClient::TakeHandle(std::string_view what) {
  if (CURLcode rc = GlobalInit(); rc != CURLE_OK) {
    return Status::IO(std::string(what) + ": curl_global_init: " + curl_easy_strerror(rc));
  }
  if (share_->sh == nullptr) return Status::IO(std::string(what) + ": curl_share_init failed");
  void* curl = nullptr;
  {
    MutexLock l(&mu_);
    if (!idle_.empty()) {
      curl = idle_.back();
      idle_.pop_back();
    }
  }
  if (curl == nullptr) curl = curl_easy_init();
  if (curl == nullptr) return Status::IO(std::string(what) + ": curl_easy_init failed");
  return Handle(curl, HandleReturner{this});
}

void HttpClient::ReturnHandle(void* curl) {
  // Reset drops the options of the last request but keeps its connections.
  curl_easy_reset(curl);
  {
    MutexLock l(&mu_);
    if (idle_.size() < options_.max_idle_handles) {
      idle_.push_back(curl);
      return;
    }
  }
  curl_easy_cleanup(curl);
}

Result<HttpResponse> HttpClient::Send(const HttpRequest& req, std::string_view what) {
  STRATA_ASSIGN_OR_RETURN(Handle handle, TakeHandle(what));
  CURL* curl = handle.get();
  HttpResponse response;
  Transfer transfer{req.body, 0, &response, req.method != "HEAD"};
  char error[CURL_ERROR_SIZE] = "";

  curl_slist* headers = nullptr;
  for (const auto& [name, value] : req.headers) {
    headers = curl_slist_append(headers, (name + ": " + value).c_str());
  }
  // No "Expect: 100-continue" round trip before a body.
  headers = curl_slist_append(headers, "Expect:");
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> free_headers(headers,
                                                                           &curl_slist_free_all);
  if (headers == nullptr) return Status::IO(std::string(what) + ": out of memory");

  curl_easy_setopt(curl, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_SHARE, share_->sh);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.request_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, options_.stall_bytes_per_second);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options_.stall_time.count()));
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);
  if (req.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (req.method == "PUT" || req.method == "POST") {
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, &OnRead);
    curl_easy_setopt(curl, CURLOPT_READDATA, &transfer);
    curl_easy_setopt(curl, CURLOPT_SEEKFUNCTION, &OnSeek);
    curl_easy_setopt(curl, CURLOPT_SEEKDATA, &transfer);
    if (req.method == "POST") curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "POST");
  } else if (req.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  }

  CURLcode rc = curl_easy_perform(curl);
  if (rc != CURLE_OK) {
    std::string msg = std::string(what) + ": " + curl_easy_strerror(rc);
    if (error[0] != '\0') msg += std::string(" (") + error + ")";
    return Status::IO(msg, /*retryable=*/!IsPermanent(rc));
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

}  // namespace strata
