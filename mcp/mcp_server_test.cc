#include "mcp/mcp_server.h"

#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "mcp/mcp_test_util.h"
#include "mcp/stdio.h"

namespace strata::mcp {
namespace {

using json = nlohmann::json;

class McpServerTest : public ::testing::Test {
 protected:
  McpServer Make(const std::string& version = "") {
    ServerOptions o;
    o.tools.backend = fake.AsBackend();
    o.tools.run_sql = [](const SqlRequest&) -> Result<SqlResult> {
      return Status::Invalid("ERROR: cannot execute INSERT in a read-only transaction");
    };
    o.protocol_version = version;
    return McpServer(o);
  }
  json Request(McpServer& s, const std::string& method, json params, json id = 1) {
    std::optional<json> r =
        s.Handle({{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}});
    EXPECT_TRUE(r.has_value());
    return r.value_or(json());
  }
  FakeBackend fake;
};

TEST_F(McpServerTest, InitializeAnswersTheClientsVersionOrTheNewest) {
  for (const auto& [asked, answered] :
       std::vector<std::pair<std::string, std::string>>{{"2025-06-18", "2025-06-18"},
                                                        {"2025-11-25", "2025-11-25"},
                                                        {"2024-11-05", "2025-11-25"},
                                                        {"2099-01-01", "2025-11-25"}}) {
    McpServer s = Make();
    json r = Request(s, "initialize",
                     {{"protocolVersion", asked},
                      {"capabilities", json::object()},
                      {"clientInfo", {{"name", "t"}, {"version", "1"}}}});
    EXPECT_EQ(r["id"], 1);
    EXPECT_EQ(r["result"]["protocolVersion"], answered) << asked;
    EXPECT_EQ(s.protocol_version(), answered);
    EXPECT_EQ(r["result"]["serverInfo"]["name"], "strata");
    EXPECT_TRUE(r["result"]["capabilities"].contains("tools"));
    EXPECT_TRUE(r["result"]["instructions"].is_string());
  }
  McpServer s = Make();
  EXPECT_EQ(Request(s, "initialize", json::object())["error"]["code"], kInvalidParams);
}

TEST_F(McpServerTest, NotificationsAndClientResponsesGetNoAnswer) {
  McpServer s = Make();
  EXPECT_FALSE(s.Handle({{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}}));
  EXPECT_TRUE(s.initialized());
  EXPECT_FALSE(s.Handle({{"jsonrpc", "2.0"}, {"method", "notifications/cancelled"}}));
  EXPECT_FALSE(s.Handle({{"jsonrpc", "2.0"}, {"id", 4}, {"result", json::object()}}));
  EXPECT_EQ(s.HandleText(R"({"jsonrpc":"2.0","method":"notifications/initialized"})"), "");
}

TEST_F(McpServerTest, FramingErrorsHaveTheirJsonRpcCodes) {
  McpServer s = Make();
  auto code = [&](std::string_view text) {
    return json::parse(s.HandleText(text))["error"]["code"].get<int>();
  };
  EXPECT_EQ(code("{not json"), kParseError);
  EXPECT_EQ(code(R"([{"jsonrpc":"2.0","id":1,"method":"ping"}])"), kInvalidRequest);
  EXPECT_EQ(code(R"({"jsonrpc":"1.0","id":1,"method":"ping"})"), kInvalidRequest);
  EXPECT_EQ(code(R"({"jsonrpc":"2.0","id":1})"), kInvalidRequest);
  EXPECT_EQ(code(R"({"jsonrpc":"2.0","id":null,"method":"ping"})"), kInvalidRequest);
  EXPECT_EQ(code(R"({"jsonrpc":"2.0","id":1.5,"method":"ping"})"), kInvalidRequest);
  EXPECT_EQ(code(R"({"jsonrpc":"2.0","id":1,"method":7})"), kInvalidRequest);
  EXPECT_EQ(code(R"({"jsonrpc":"2.0","id":1,"method":"nope"})"), kMethodNotFound);
  EXPECT_EQ(code(R"({"jsonrpc":"2.0","id":1,"method":"ping","params":[1]})"), kInvalidParams);
  EXPECT_EQ(json::parse(s.HandleText("{not json"))["id"], nullptr);
  EXPECT_EQ(json::parse(s.HandleText(R"({"jsonrpc":"2.0","id":"x","method":"ping"})")),
            json({{"jsonrpc", "2.0"}, {"id", "x"}, {"result", json::object()}}));
}

TEST_F(McpServerTest, ToolsListHasEveryTool) {
  McpServer s = Make();
  json r = Request(s, "tools/list", json::object());
  std::set<std::string> names;
  for (const json& t : r["result"]["tools"]) names.insert(t["name"].get<std::string>());
  EXPECT_EQ(names, (std::set<std::string>{
                       "list_branches", "describe_branch", "create_branch", "delete_branch",
                       "reset_branch", "restore_branch", "create_snapshot", "delete_snapshot",
                       "get_connection_string", "run_sql", "diff_branch", "promote_branch"}));
}

TEST_F(McpServerTest, UnknownToolIsInvalidParams) {
  McpServer s = Make();
  json r = Request(s, "tools/call", {{"name", "drop_everything"}, {"arguments", json::object()}});
  EXPECT_EQ(r["error"]["code"], kInvalidParams);
  EXPECT_EQ(r["error"]["message"], "Unknown tool: drop_everything");
  EXPECT_EQ(Request(s, "tools/call", {{"arguments", json::object()}})["error"]["code"],
            kInvalidParams);
  EXPECT_TRUE(fake.requests.empty());
}

TEST_F(McpServerTest, BadArgumentsAreAToolErrorUnder20251125AndInvalidParamsUnder20250618) {
  const json call = {{"name", "describe_branch"}, {"arguments", {{"branch", 3}}}};
  McpServer newest = Make("2025-11-25");
  json r = Request(newest, "tools/call", call);
  EXPECT_EQ(r["result"]["isError"], true);
  EXPECT_EQ(r["result"]["content"][0]["text"],
            "describe_branch: argument 'branch' must be a string");
  McpServer older = Make("2025-06-18");
  r = Request(older, "tools/call", call);
  EXPECT_EQ(r["error"]["code"], kInvalidParams);
  EXPECT_EQ(r["error"]["message"],
            "Invalid params: describe_branch: argument 'branch' must be a string");
  EXPECT_TRUE(fake.requests.empty());
}

TEST_F(McpServerTest, AToolFailureIsAResultWithIsErrorAndTheCliLine) {
  McpServer s = Make();
  fake.On("GET /v1/branches/a", 404, {{"code", "not_found"}, {"error", "no branch named 'a'"}});
  json r =
      Request(s, "tools/call", {{"name", "describe_branch"}, {"arguments", {{"branch", "a"}}}});
  EXPECT_EQ(r["result"], json({{"content", {{{"type", "text"}, {"text", "no branch named 'a'"}}}},
                               {"isError", true}}));
}

TEST_F(McpServerTest, ASuccessHasTextAndStructuredContent) {
  McpServer s = Make();
  fake.Branch("a");
  json r =
      Request(s, "tools/call", {{"name", "describe_branch"}, {"arguments", {{"branch", "a"}}}});
  EXPECT_EQ(r["result"]["isError"], false);
  EXPECT_EQ(r["result"]["structuredContent"]["name"], "a");
  EXPECT_EQ(r["result"]["content"][0]["type"], "text");
}

TEST_F(McpServerTest, StdioAnswersOneLinePerRequestAndNothingElse) {
  McpServer s = Make();
  std::istringstream in(
      R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18"}})"
      "\n\n"
      R"({"jsonrpc":"2.0","method":"notifications/initialized"})"
      "\n"
      R"({"jsonrpc":"2.0","id":2,"method":"ping"})"
      "\n");
  std::ostringstream out;
  ServeStdio(s, in, out);
  std::istringstream lines(out.str());
  std::vector<json> answers;
  for (std::string line; std::getline(lines, line);) answers.push_back(json::parse(line));
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers[0]["result"]["protocolVersion"], "2025-06-18");
  EXPECT_EQ(answers[1], json({{"jsonrpc", "2.0"}, {"id", 2}, {"result", json::object()}}));
}

}  // namespace
}  // namespace strata::mcp
