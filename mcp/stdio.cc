#include "mcp/stdio.h"

#include <istream>
#include <ostream>
#include <string>

#include "common/text.h"

namespace strata::mcp {

void ServeStdio(McpServer& server, std::istream& in, std::ostream& out) {
  std::string line;
  while (std::getline(in, line)) {
    if (TrimAsciiSpace(line).empty()) continue;
    const std::string answer = server.HandleText(line);
    if (answer.empty()) continue;
    out << answer << '\n';
    out.flush();
  }
}

}  // namespace strata::mcp
