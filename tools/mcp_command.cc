#include "tools/mcp_command.h"

#include <cstdio>
#include <istream>
#include <ostream>

#include "common/names.h"
#include "mcp/mcp_server.h"
#include "mcp/stdio.h"

namespace strata::cli {

namespace {

std::string PathOf(const mcp::BackendRequest& r) {
  std::string path;
  for (const std::string& s : r.path) path += "/" + PathSegment(s);
  char sep = '?';
  for (const auto& [k, v] : r.query) {
    path += sep + PathSegment(k) + "=" + PathSegment(v);
    sep = '&';
  }
  return path;
}

Result<ControlClient> ClientOf(const McpArgs& args) {
  if (!args.cache_dir.empty()) {
    if (!args.mount.empty()) return Status::Invalid("give --mount or --cache-dir, not both");
    return ControlClient::ForCacheDir(args.cache_dir);
  }
  STRATA_ASSIGN_OR_RETURN(const std::string mount, ResolveMountArg(args.mount));
  return ControlClient(mount);
}

}  // namespace

mcp::Backend ControlBackend(ControlClient client) {
  return [client = std::move(client)](const mcp::BackendRequest& r) {
    Result<nlohmann::json> j = client.Call(r.method, PathOf(r), r.body);
    if (j.ok()) return mcp::BackendReply{200, std::move(*j)};
    return mcp::BackendReply{400, {{"error", j.status().message()}}};
  };
}

Status RunMcp(const McpArgs& args, std::istream& in, std::ostream& out) {
  if (!args.owner.empty()) STRATA_RETURN_IF_ERROR(ValidateName("owner", args.owner));
  STRATA_ASSIGN_OR_RETURN(ControlClient client, ClientOf(args));
  if (Result<nlohmann::json> st = client.Call("GET", "/v1/status"); !st.ok()) {
    fprintf(stderr, "strata mcp: %s (serving anyway: the tools fail until it answers)\n",
            st.status().message().c_str());
  }
  mcp::ServerOptions opts;
  opts.tools.backend = ControlBackend(std::move(client));
  opts.tools.owner = args.owner;
  opts.server_version = args.version;
  mcp::McpServer server(std::move(opts));
  mcp::ServeStdio(server, in, out);
  return Status::OK();
}

}  // namespace strata::cli
