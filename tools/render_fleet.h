// Text rendering of the fleet objects of the control API (docs/api.md):
// endpoints (a branch's postgres server run by the daemon), credentials,
// owners and owner tokens. Missing or null fields show as "-", as in render.h.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace strata::cli {

// "endpoint BRANCH: STATE[, pid N, C connections], idle timeout D[; last
// error: E]" (`endpoint start|suspend`).
std::string DescribeEndpoint(const nlohmann::json& endpoint);

// Every field of one endpoint object, one per line (`endpoint status`).
std::string RenderEndpointDetail(const nlohmann::json& endpoint);

// BRANCH STATE PID CONNECTIONS IDLE_TIMEOUT STARTS LAST_ACTIVE LAST_ERROR.
std::string RenderEndpointTable(const nlohmann::json& endpoints);
// GET /v1/nodes: one row per daemon of the store (docs/cluster.md).
std::string RenderNodeTable(const nlohmann::json& nodes);

// A newly issued credential: user, password, branch, role, expiry and URI,
// and a note that the password is not shown again (`credential issue`).
std::string RenderCredentialIssued(const nlohmann::json& credential);

// ID ROLE CREATED EXPIRES, from an array of credential objects.
std::string RenderCredentialTable(const nlohmann::json& credentials);

// A newly issued owner token: the token, its id, owner and expiry, and a
// note that it is not shown again (`token issue`).
std::string RenderTokenIssued(const nlohmann::json& token);

// ID OWNER STATE CREATED EXPIRES, from an array of token objects.
std::string RenderTokenTable(const nlohmann::json& tokens);

// An owner's usage against its quota (`owner show`, `owner quota`).
std::string RenderOwner(const nlohmann::json& owner);

}  // namespace strata::cli
