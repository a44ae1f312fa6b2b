#include "common/token_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "common/crypto.h"
#include "common/fd_util.h"

namespace strata {

namespace {

// Reads at most `limit` bytes of an open file.
Result<std::string> ReadSome(int fd, size_t limit, const std::string& path) {
  std::string data(limit, '\0');
  size_t got = 0;
  while (got < limit) {
    const ssize_t n = ::read(fd, data.data() + got, limit - got);
    if (n == 0) break;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(errno, "read " + path);
    got += static_cast<size_t>(n);
  }
  data.resize(got);
  return data;
}

Status CheckToken(const std::string& token, const std::string& what) {
  if (token.size() < kMinTokenChars || token.size() > kMaxTokenChars) {
    return Status::Invalid(what + ": the token must be " + std::to_string(kMinTokenChars) + " to " +
                           std::to_string(kMaxTokenChars) + " characters on the first " +
                           "line, found " + std::to_string(token.size()));
  }
  for (char c : token) {
    if (c <= ' ' || c > '~') {
      return Status::Invalid(what + ": the token may hold only printable ASCII without spaces");
    }
  }
  return Status::OK();
}

}  // namespace

Result<std::string> ReadTokenFile(const std::string& path, const std::string& what) {
  const std::string named = what + " " + path;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(errno, "read " + named);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Status::FromErrno(errno, "stat " + named);
  if (!S_ISREG(st.st_mode)) return Status::Invalid(named + " is not a regular file");
  if (st.st_mode & 077) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Status::Invalid(named + " may be read or written by other users (mode " + mode +
                           "): it grants access; chmod 600 it");
  }
  STRATA_ASSIGN_OR_RETURN(std::string data, ReadSome(fd.get(), kMaxTokenChars + 2, path));
  std::string token = data.substr(0, data.find('\n'));
  if (!token.empty() && token.back() == '\r') token.pop_back();
  STRATA_RETURN_IF_ERROR(CheckToken(token, named));
  return token;
}

Result<std::string> LoadOrMakeTokenFile(const std::string& path, const std::string& what) {
  Result<std::string> token = ReadTokenFile(path, what);
  if (!token.status().IsNotFound()) return token;
  const std::string made = crypto::HexEncode(crypto::RandomBytes(32));
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid()) return Status::FromErrno(errno, "create " + what + " " + path);
  STRATA_RETURN_IF_ERROR(WriteAll(fd.get(), made + "\n", path));
  if (::fsync(fd.get()) != 0) return Status::FromErrno(errno, "fsync " + path);
  return made;
}

}  // namespace strata
