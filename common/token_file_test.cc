#include "common/token_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <string>

#include "common/status_test_util.h"
#include "common/temp_dir.h"

namespace strata {
namespace {

class TokenFileTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& text, mode_t mode = 0600) {
    const std::string path = dir_.path() + "/token";
    std::ofstream(path, std::ios::trunc) << text;
    chmod(path.c_str(), mode);
    return path;
  }
  testing::TempDir dir_;
};

TEST_F(TokenFileTest, TheFirstLineIsTheToken) {
  ASSERT_OK_AND_ASSIGN(std::string t, ReadTokenFile(Write("0123456789abcdefXYZ\nmore\n"), "t"));
  EXPECT_EQ(t, "0123456789abcdefXYZ");
  ASSERT_OK_AND_ASSIGN(t, ReadTokenFile(Write("0123456789abcdef\r\n"), "t"));
  EXPECT_EQ(t, "0123456789abcdef");
  ASSERT_OK_AND_ASSIGN(t, ReadTokenFile(Write(std::string(1024, 'x')), "t"));
  EXPECT_EQ(t.size(), 1024u);
}

TEST_F(TokenFileTest, BadTokensAndOpenFilesAreRefusedWithOneClearError) {
  const struct {
    std::string text;
    mode_t mode;
    const char* says;
  } cases[] = {
      {"short\n", 0600, "16 to 1024 characters"},
      {"\n0123456789abcdef0123\n", 0600, "16 to 1024 characters"},
      {std::string(1025, 'x'), 0600, "16 to 1024 characters"},
      {"0123456789 abcdef0123", 0600, "printable ASCII without spaces"},
      {"0123456789abcdef0123", 0644, "mode 0644"},
      {"0123456789abcdef0123", 0620, "chmod 600"},
  };
  for (const auto& c : cases) {
    Result<std::string> t = ReadTokenFile(Write(c.text, c.mode), "walsink token file");
    EXPECT_EQ(t.status().code(), Code::kInvalid) << c.says;
    EXPECT_NE(t.status().message().find(c.says), std::string::npos) << t.status().message();
    EXPECT_NE(t.status().message().find("walsink token file " + dir_.path()), std::string::npos)
        << t.status().message();
  }
  EXPECT_EQ(ReadTokenFile(dir_.path() + "/missing", "t").status().code(), Code::kNotFound);
  EXPECT_EQ(ReadTokenFile(dir_.path(), "t").status().code(), Code::kInvalid);
}

TEST_F(TokenFileTest, AMissingFileIsMadeOnceWithAPrivateRandomToken) {
  const std::string path = dir_.path() + "/made";
  ASSERT_OK_AND_ASSIGN(std::string first, LoadOrMakeTokenFile(path, "t"));
  EXPECT_EQ(first.size(), 64u);
  EXPECT_EQ(first.find_first_not_of("0123456789abcdef"), std::string::npos);
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_OK_AND_ASSIGN(std::string again, LoadOrMakeTokenFile(path, "t"));
  EXPECT_EQ(again, first);
  ASSERT_OK_AND_ASSIGN(std::string other, LoadOrMakeTokenFile(dir_.path() + "/other", "t"));
  EXPECT_NE(other, first);
  // An unusable file is not replaced.
  EXPECT_FALSE(LoadOrMakeTokenFile(Write("short"), "t").ok());
}

}  // namespace
}  // namespace strata
