#include "mcp/schema.h"

#include <gtest/gtest.h>

#include "mcp/tools.h"

namespace strata::mcp {
namespace {

using json = nlohmann::json;

std::string Check(const std::string& tool, const json& args) {
  Status st = ValidateArguments(Tools::Schema(tool), args);
  return st.ok() ? "ok" : st.message();
}

TEST(ValidateArguments, AcceptsWhatTheSchemaAllows) {
  EXPECT_EQ(Check("list_branches", nullptr), "ok");
  EXPECT_EQ(Check("list_branches", json::object()), "ok");
  EXPECT_EQ(Check("run_sql",
                  {{"branch", "a"}, {"sql", "select 1"}, {"read_only", false}, {"max_rows", 1000}}),
            "ok");
  EXPECT_EQ(
      Check("create_branch",
            {{"name", "b"}, {"from", "a"}, {"at", "seq:3"}, {"ttl_seconds", 60}, {"owner", "x"}}),
      "ok");
}

TEST(ValidateArguments, RefusesMissingExtraAndWrongTypedFields) {
  EXPECT_EQ(Check("describe_branch", json::object()), "missing required argument 'branch'");
  EXPECT_EQ(Check("describe_branch", {{"branch", "a"}, {"name", "a"}}), "unknown argument 'name'");
  EXPECT_EQ(Check("describe_branch", {{"branch", 3}}), "argument 'branch' must be a string");
  EXPECT_EQ(Check("describe_branch", {{"branch", ""}}), "argument 'branch' must not be empty");
  EXPECT_EQ(Check("describe_branch", json::array()), "the arguments must be a JSON object");
  EXPECT_EQ(Check("run_sql", {{"branch", "a"}, {"sql", "x"}, {"read_only", "no"}}),
            "argument 'read_only' must be true or false");
  EXPECT_EQ(Check("run_sql", {{"branch", "a"}, {"sql", "x"}, {"max_rows", 1001}}),
            "argument 'max_rows' must be an integer from 1 to 1000");
  EXPECT_EQ(Check("run_sql", {{"branch", "a"}, {"sql", "x"}, {"max_rows", 1.5}}),
            "argument 'max_rows' must be an integer from 1 to 1000");
  EXPECT_EQ(Check("run_sql", {{"branch", "a"}, {"sql", "x"}, {"max_rows", nullptr}}),
            "argument 'max_rows' must be an integer from 1 to 1000");
  EXPECT_EQ(Check("create_branch", {{"name", "b"}, {"ttl_seconds", 0}}),
            "argument 'ttl_seconds' must be an integer from 1 to 316224000");
}

TEST(ValidateArguments, EveryToolHasAStrictObjectSchemaAndAnnotations) {
  for (const json& t : Tools::List()) {
    SCOPED_TRACE(t.dump());
    EXPECT_EQ(t["inputSchema"]["type"], "object");
    EXPECT_EQ(t["inputSchema"]["additionalProperties"], false);
    EXPECT_TRUE(t["title"].is_string());
    EXPECT_TRUE(t["description"].is_string());
    for (const char* hint : {"readOnlyHint", "destructiveHint", "idempotentHint"}) {
      EXPECT_TRUE(t["annotations"][hint].is_boolean()) << hint;
    }
    for (const json& r : t["inputSchema"]["required"]) {
      EXPECT_TRUE(t["inputSchema"]["properties"].contains(r.get<std::string>()));
    }
  }
  EXPECT_EQ(Tools::List().size(), 12u);
}

}  // namespace
}  // namespace strata::mcp
