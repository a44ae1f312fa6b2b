// The control API client (control_client.h): HTTP over the unix socket with libcurl.
#include "tools/control_client.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <utility>

#include "common/fd_util.h"
#include "common/filename.h"
#include "tools/cli_format.h"

namespace strata::cli {

namespace {

Status NoDaemon(const std::string& mount) {
  return Status::Unavailable("no strata daemon serves " + mount);
}

bool MeansNoDaemon(int err) {
  return err == ENOENT || err == ENOTCONN || err == ECONNREFUSED || err == ENOTDIR ||
         err == EINVAL || err == ENOTSOCK;
}

// curl_global_init is not thread-safe and must run before any other curl
// call: once per process, never undone (objstore/s3_http.cc does the same).
CURLcode GlobalInit() {
  static const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
  return rc;
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

size_t AppendBody(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

// The path to connect to for `socket_path`: itself, or, when it is too long
// for sun_path (108 bytes), the same socket through its directory, opened
// into *dir_fd: /proc/self/fd/N/NAME.
Result<std::string> ConnectablePath(const std::string& socket_path, const std::string& mount,
                                    UniqueFd* dir_fd) {
  if (socket_path.size() < sizeof(sockaddr_un::sun_path)) return socket_path;
  size_t slash = socket_path.rfind('/');
  std::string dir = slash == 0 ? "/" : socket_path.substr(0, slash);
  dir_fd->reset(open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd->valid()) {
    if (MeansNoDaemon(errno)) return NoDaemon(mount);
    return Status::FromErrno(errno, "open " + dir);
  }
  std::string path = "/proc/self/fd/" + std::to_string(dir_fd->get()) + socket_path.substr(slash);
  if (path.size() >= sizeof(sockaddr_un::sun_path)) {
    return Status::Invalid("control socket name is too long: " + socket_path);
  }
  return path;
}

// What a failed curl_easy_perform (rc) means to the caller.
Status PerformError(CURL* c, CURLcode rc, const char* errbuf, const std::string& socket_path,
                    const std::string& mount, std::chrono::milliseconds timeout) {
  switch (rc) {
    case CURLE_COULDNT_CONNECT: {
      long err = 0;
      curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &err);
      if (err == EACCES || err == EPERM) {
        return Status::Permission("permission denied on " + socket_path +
                                  ", the control socket of " + mount +
                                  " (it admits the daemon's user only)");
      }
      return NoDaemon(mount);
    }
    case CURLE_OPERATION_TIMEDOUT:
      return Status::Unavailable("the strata daemon serving " + mount + " did not answer in " +
                                 std::to_string(timeout.count() / 1000) + " s; see its log");
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
      return Status::Unavailable("the strata daemon serving " + mount +
                                 " closed the connection without answering; see its log");
    default:
      return Status::IO("talking to the strata daemon serving " + mount + ": " +
                        (errbuf[0] ? errbuf : curl_easy_strerror(rc)));
  }
}

// The first line of `text`, at most 200 bytes.
std::string FirstLine(std::string_view text) {
  std::string_view line = text.substr(0, text.find_first_of("\r\n"));
  if (line.size() > 200) return std::string(line.substr(0, 200)) + "...";
  return std::string(line);
}

}  // namespace

Result<std::string> ResolveMountArg(const std::string& flag) {
  if (!flag.empty()) return flag;
  const char* env = getenv("STRATA_MOUNT");
  if (env != nullptr && *env != '\0') return std::string(env);
  return Status::Invalid("no mount given: pass --mount MOUNTPOINT or set STRATA_MOUNT");
}

Result<std::string> FindControlSocket(const std::string& mount) {
  std::string link = mount;
  while (link.size() > 1 && link.back() == '/') link.pop_back();
  link += std::string("/") + filename::kControlLink;
  char buf[4096];
  ssize_t n = readlink(link.c_str(), buf, sizeof(buf));
  if (n < 0) {
    int err = errno;
    if (MeansNoDaemon(err)) {
      if (err == ENOTCONN) {
        return Status::Unavailable("no strata daemon serves " + mount +
                                   " (the mount is dead: run 'strata umount " + mount + "')");
      }
      return NoDaemon(mount);
    }
    return Status::FromErrno(err, "readlink " + link);
  }
  if (n == static_cast<ssize_t>(sizeof(buf))) {
    return Status::Invalid("control socket path of " + mount + " is too long");
  }
  std::string target(buf, static_cast<size_t>(n));
  if (!target.empty() && target.front() != '/') {
    target = link.substr(0, link.size() - strlen(filename::kControlLink)) + target;
  }
  return target;
}

Code CodeFromWire(std::string_view code) {
  if (code == "not_found") return Code::kNotFound;
  if (code == "exists") return Code::kExists;
  if (code == "invalid") return Code::kInvalid;
  if (code == "busy") return Code::kBusy;
  if (code == "corruption") return Code::kCorruption;
  if (code == "unavailable") return Code::kUnavailable;
  if (code == "permission" || code == "unauthorized") return Code::kPermission;
  if (code == "not_empty") return Code::kNotEmpty;
  if (code == "no_space") return Code::kNoSpace;
  if (code == "quota") return Code::kQuota;
  if (code == "not_supported") return Code::kNotSupported;
  return Code::kIO;  // "io" and anything this client does not know yet
}

Result<nlohmann::json> DecodeResponse(long http_status, std::string_view body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (http_status >= 200 && http_status < 300) {
    if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return nlohmann::json(nullptr);
    if (j.is_discarded()) {
      return Status::IO("malformed answer from the strata daemon (HTTP " +
                        std::to_string(http_status) + "): not JSON: " + FirstLine(body));
    }
    return j;
  }
  const nlohmann::json* error = nullptr;
  if (!j.is_discarded() && j.is_object()) {
    if (auto e = j.find("error"); e != j.end() && e->is_string() && !e->empty()) error = &*e;
  }
  if (error == nullptr) {
    std::string first = FirstLine(body);
    return Status::IO("the daemon answered HTTP " + std::to_string(http_status) + ": " +
                      (first.empty() ? "(no body)" : first));
  }
  Code code = Code::kIO;
  if (auto c = j.find("code"); c != j.end() && c->is_string()) {
    code = CodeFromWire(c->get<std::string>());
  }
  return Status(code, OneLine(error->get<std::string>()));
}

std::string PathSegment(std::string_view segment) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : segment) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

ControlClient ControlClient::ForCacheDir(const std::string& cache_dir,
                                         std::chrono::milliseconds timeout) {
  ControlClient c(cache_dir, timeout);
  c.socket_path_ = filename::ControlSocket(cache_dir);
  return c;
}

Result<nlohmann::json> ControlClient::Call(const std::string& method, const std::string& path,
                                           const nlohmann::json& body) const {
  std::string socket_path = socket_path_;
  if (socket_path.empty()) {
    STRATA_ASSIGN_OR_RETURN(socket_path, FindControlSocket(mount_));
  }
  UniqueFd dir_fd;  // held until the call is done
  STRATA_ASSIGN_OR_RETURN(const std::string connect_path,
                          ConnectablePath(socket_path, mount_, &dir_fd));

  if (CURLcode rc = GlobalInit(); rc != CURLE_OK) {
    return Status::IO(std::string("curl_global_init: ") + curl_easy_strerror(rc));
  }
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return Status::IO("curl_easy_init failed");
  CURL* c = curl.get();
  const std::string url = "http://strata" + path;
  const std::string payload = body.is_null() ? std::string() : body.dump();
  std::unique_ptr<curl_slist, SlistDeleter> headers;
  auto add_header = [&headers](const char* h) {
    headers.reset(curl_slist_append(headers.release(), h));
  };
  add_header("Accept: application/json");
  add_header("Expect:");
  // No body: no Content-Type (curl would add a form type for the empty POSTFIELDS).
  add_header(body.is_null() ? "Content-Type:" : "Content-Type: application/json");
  if (!headers) return Status::IO("curl_slist_append failed");
  std::string answer;
  char errbuf[CURL_ERROR_SIZE] = "";

  curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, connect_path.c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(c, CURLOPT_PROXY, "");  // never an $http_proxy
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  if (method != "GET") {
    // Content-Length even for no body (0): some servers want one on POST.
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(payload.size()));
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload.c_str());
  }

  if (CURLcode rc = curl_easy_perform(c); rc != CURLE_OK) {
    return PerformError(c, rc, errbuf, socket_path, mount_, timeout_);
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  return DecodeResponse(status, answer);
}

}  // namespace strata::cli
