// A fake control API for the MCP tests: canned answers by "METHOD /path",
// and every request it was sent, in order.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mcp/backend.h"

namespace strata::mcp {

class FakeBackend {
 public:
  // Answers `method path` ("GET /v1/branches/a") with `status` and `body`.
  void On(const std::string& key, int status, nlohmann::json body) {
    replies_[key] = {status, std::move(body)};
  }
  // A branch object as GET /v1/branches/NAME answers it.
  void Branch(const std::string& name, const std::string& owner = "",
              const std::string& parent = "") {
    On("GET /v1/branches/" + name, 200,
       {{"name", name},
        {"owner", owner.empty() ? nlohmann::json() : nlohmann::json(owner)},
        {"parent", parent.empty() ? nlohmann::json() : nlohmann::json(parent)}});
  }
  Backend AsBackend() {
    return [this](const BackendRequest& r) {
      requests.push_back(r);
      auto it = replies_.find(r.method + " " + r.PathString());
      if (it != replies_.end()) return it->second;
      return BackendReply{404,
                          {{"code", "not_found"}, {"error", "no API route " + r.PathString()}}};
    };
  }
  // "METHOD /path" of every request, in order.
  std::vector<std::string> Calls() const {
    std::vector<std::string> out;
    for (const BackendRequest& r : requests) out.push_back(r.method + " " + r.PathString());
    return out;
  }
  std::vector<BackendRequest> requests;

 private:
  std::map<std::string, BackendReply> replies_;
};

}  // namespace strata::mcp
