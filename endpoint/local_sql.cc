#include "endpoint/local_sql.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <optional>

#include "common/fd_util.h"
#include "pgwire/pg_wire.h"

namespace strata {

namespace {

constexpr size_t kMaxBody = 1 << 20;

// The first column of a DataRow body ("" for NULL or a malformed row).
std::string FirstColumn(const std::string& body) {
  if (body.size() < 6) return "";
  uint32_t len = 0;
  std::memcpy(&len, body.data() + 2, 4);
  len = ntohl(len);
  if (len == 0xffffffffu || body.size() < 6 + static_cast<size_t>(len)) return "";
  return body.substr(6, len);
}

// Reads messages until ReadyForQuery; the first ErrorResponse is the
// answer, else the first column of the first DataRow.
Result<std::string> UntilReady(int fd, pgwire::SteadyClock::time_point deadline, bool startup) {
  Status error = Status::OK();
  std::optional<std::string> first;
  for (;;) {
    STRATA_ASSIGN_OR_RETURN(pgwire::Message m, pgwire::ReadMessage(fd, kMaxBody, deadline));
    if (m.type == 'Z') {
      if (!error.ok()) return error;
      return first.value_or("");
    }
    if (m.type == 'E' && error.ok()) {
      auto f = pgwire::ParseErrorFields(m.body);
      error = Status::IO(f['S'] + ": " + f['M']);
      if (startup) return error;  // the server closes the connection
    } else if (m.type == 'D' && !first) {
      first = FirstColumn(m.body);
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

Status LocalSql::Connect(const std::string& socket_path, const std::string& user,
                         std::chrono::milliseconds timeout) {
  deadline_ = pgwire::SteadyClock::now() + timeout;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path) {
    return Status::Invalid("socket path too long: " + socket_path);
  }
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size());
  fd_.reset(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd_.get() < 0) return Status::FromErrno(errno, "socket");
  if (connect(fd_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    return Status::Unavailable("connect to " + socket_path + ": " + std::strerror(errno));
  }
  STRATA_RETURN_IF_ERROR(WriteAll(
      fd_.get(), pgwire::EncodeStartup({{"user", user}, {"database", "postgres"}}), "startup"));
  return UntilReady(fd_.get(), deadline_, true).status();
}

Result<std::string> LocalSql::Query(const std::string& sql) {
  STRATA_RETURN_IF_ERROR(
      WriteAll(fd_.get(), pgwire::EncodeMessage('Q', sql + std::string(1, '\0')), "query"));
  return UntilReady(fd_.get(), deadline_, false);
}

LocalSql::~LocalSql() {
  if (fd_.valid()) WriteAll(fd_.get(), pgwire::EncodeMessage('X', ""), "end").PermitUnchecked();
}

}  // namespace strata
