#include "mcp/sql_runner.h"

#include <gtest/gtest.h>

namespace strata::mcp {
namespace {

using Row = std::vector<std::optional<std::string>>;

TEST(RowCollector, StopsAtMaxRowsWithANote) {
  SqlResult r;
  RowCollector c(&r, 2, 1000);
  EXPECT_TRUE(c.Add({"a"}));
  EXPECT_TRUE(c.Add({"b"}));
  EXPECT_FALSE(c.Add({"c"}));
  EXPECT_EQ(r.rows.size(), 2u);
  EXPECT_TRUE(r.truncated);
  EXPECT_EQ(r.truncated_by, "max_rows");
  EXPECT_NE(r.Note().find("only the first 2 rows"), std::string::npos) << r.Note();
  EXPECT_EQ(r.ToJson()["note"], r.Note());
  EXPECT_EQ(r.ToJson()["row_count"], 2);
}

TEST(RowCollector, StopsAtTheByteCap) {
  SqlResult r;
  RowCollector c(&r, 100, 10);
  EXPECT_TRUE(c.Add({std::string(6, 'x'), std::nullopt}));
  EXPECT_FALSE(c.Add({std::string(6, 'y')}));
  EXPECT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.truncated_by, "bytes");
  EXPECT_NE(r.Note().find("only the first 1 rows"), std::string::npos) << r.Note();
}

TEST(RowCollector, AResultUnderTheCapsIsWholeAndHasNoNote) {
  SqlResult r;
  RowCollector c(&r, 2, 1000);
  EXPECT_TRUE(c.Add({"a"}));
  EXPECT_FALSE(r.truncated);
  EXPECT_EQ(r.Note(), "");
  EXPECT_FALSE(r.ToJson().contains("note"));
}

TEST(SqlResult, TextIsAnAlignedTableWithNulls) {
  SqlResult r;
  r.columns = {"id", "name"};
  r.rows = {Row{"1", "alice"}, Row{"22", std::nullopt}};
  r.command = "SELECT 2";
  EXPECT_EQ(r.ToText(),
            " id | name\n"
            "----+-------\n"
            " 1  | alice\n"
            " 22 |\n"
            "(2 rows)\n"
            "SELECT 2\n");
  EXPECT_EQ(r.ToJson()["rows"][1][1], nullptr);
}

TEST(RunSql, NoServerIsUnavailableOnOneLine) {
  SqlRequest req;
  req.conninfo = "postgresql://u:p@127.0.0.1:1/x";  // port 1: nothing listens
  req.sql = "SELECT 1";
  req.connect_timeout_s = 5;
  Result<SqlResult> r = RunSql(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_EQ(r.status().message().rfind("could not connect to the branch's server: ", 0), 0u)
      << r.status().message();
  EXPECT_EQ(r.status().message().find('\n'), std::string::npos);
}

}  // namespace
}  // namespace strata::mcp
