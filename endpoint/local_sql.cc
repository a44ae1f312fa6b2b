#include "endpoint/local_sql.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "common/fd_util.h"
#include "pgwire/pg_wire.h"

namespace strata {

namespace {

constexpr size_t kMaxBody = 1 << 20;

// Reads messages until ReadyForQuery; the first ErrorResponse is the answer.
Status UntilReady(int fd, pgwire::SteadyClock::time_point deadline, bool startup) {
  Status result = Status::OK();
  for (;;) {
    STRATA_ASSIGN_OR_RETURN(pgwire::Message m, pgwire::ReadMessage(fd, kMaxBody, deadline));
    if (m.type == 'Z') return result;
    if (m.type == 'E' && result.ok()) {
      auto f = pgwire::ParseErrorFields(m.body);
      result = Status::IO(f['S'] + ": " + f['M']);
      if (startup) return result;  // the server closes the connection
    } else if (m.type == 'R' && startup) {
      STRATA_ASSIGN_OR_RETURN(uint32_t code, pgwire::ParseAuthenticationCode(m.body));
      if (code != pgwire::kAuthOk) {
        return Status::Permission("the server asks for authentication (code " +
                                  std::to_string(code) + "): its hba does not trust the socket");
      }
    }
  }
}

}  // namespace

Status RunLocalSql(const std::string& socket_path, const std::string& user, const std::string& sql,
                   std::chrono::milliseconds timeout) {
  const auto deadline = pgwire::SteadyClock::now() + timeout;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path) {
    return Status::Invalid("socket path too long: " + socket_path);
  }
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size());
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return Status::FromErrno(errno, "socket");
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    return Status::Unavailable("connect to " + socket_path + ": " + std::strerror(errno));
  }
  STRATA_RETURN_IF_ERROR(WriteAll(
      fd.get(), pgwire::EncodeStartup({{"user", user}, {"database", "postgres"}}), "startup"));
  STRATA_RETURN_IF_ERROR(UntilReady(fd.get(), deadline, true));
  STRATA_RETURN_IF_ERROR(
      WriteAll(fd.get(), pgwire::EncodeMessage('Q', sql + std::string(1, '\0')), "query"));
  Status st = UntilReady(fd.get(), deadline, false);
  WriteAll(fd.get(), pgwire::EncodeMessage('X', ""), "terminate").PermitUnchecked();
  return st;
}

}  // namespace strata
