#include "objstore/s3_credentials.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "common/temp_dir.h"

namespace strata {
namespace {

EnvLookup Env(std::map<std::string, std::string> vars) { return MapEnv(std::move(vars)); }

class S3CredentialsTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path) << text;
    return path;
  }

  testing::TempDir tmp_;
  const std::string dir_ = tmp_.path();
};

constexpr char kFile[] =
    "# comment\n"
    "[default]\n"
    "aws_access_key_id = AKIDDEFAULT\n"
    "aws_secret_access_key=secret/default+1\n"
    "\n"
    "[dev]\r\n"
    "  ; another comment\n"
    "  AWS_ACCESS_KEY_ID = AKIDDEV  \r\n"
    "  aws_secret_access_key = secretdev\n"
    "  aws_session_token = tokendev\n"
    "  region = eu-west-1\n"
    "[broken]\n"
    "aws_access_key_id = only\n";

TEST_F(S3CredentialsTest, EnvironmentComesFirst) {
  std::string file = Write("creds", kFile);
  Result<S3Credentials> c = ResolveS3Credentials(Env({{"AWS_ACCESS_KEY_ID", "AKIDENV"},
                                                      {"AWS_SECRET_ACCESS_KEY", "secretenv"},
                                                      {"AWS_SESSION_TOKEN", "tok"},
                                                      {"AWS_SHARED_CREDENTIALS_FILE", file}}));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->keys.access_key_id, "AKIDENV");
  EXPECT_EQ(c->keys.secret_access_key, "secretenv");
  EXPECT_EQ(c->keys.session_token, "tok");
  EXPECT_EQ(c->source, "environment");
}

TEST_F(S3CredentialsTest, HalfTheEnvironmentIsAnError) {
  Result<S3Credentials> c = ResolveS3Credentials(Env({{"AWS_ACCESS_KEY_ID", "AKID"}}));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Code::kInvalid);
  EXPECT_NE(c.status().message().find("AWS_SECRET_ACCESS_KEY is not"), std::string::npos)
      << c.status().message();
}

TEST_F(S3CredentialsTest, SharedFileProfiles) {
  std::string file = Write("creds", kFile);
  Result<S3Credentials> d = ResolveS3Credentials(Env({{"AWS_SHARED_CREDENTIALS_FILE", file}}));
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->keys.access_key_id, "AKIDDEFAULT");
  EXPECT_EQ(d->keys.secret_access_key, "secret/default+1");
  EXPECT_EQ(d->keys.session_token, "");
  EXPECT_EQ(d->source, file + " [default]");

  Result<S3Credentials> dev =
      ResolveS3Credentials(Env({{"AWS_SHARED_CREDENTIALS_FILE", file}, {"AWS_PROFILE", "dev"}}));
  ASSERT_TRUE(dev.ok()) << dev.status().ToString();
  EXPECT_EQ(dev->keys.access_key_id, "AKIDDEV");
  EXPECT_EQ(dev->keys.secret_access_key, "secretdev");
  EXPECT_EQ(dev->keys.session_token, "tokendev");
}

TEST_F(S3CredentialsTest, DefaultFileUnderHome) {
  Write(".aws/credentials", kFile);
  Result<S3Credentials> c = ResolveS3Credentials(Env({{"HOME", dir_}}));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->keys.access_key_id, "AKIDDEFAULT");
  EXPECT_EQ(c->source, dir_ + "/.aws/credentials [default]");
}

TEST_F(S3CredentialsTest, UnusableFileNamesFileAndProfile) {
  std::string file = Write("creds", kFile);
  struct Case {
    std::map<std::string, std::string> env;
    std::string says;
  };
  for (const Case& c : {
           Case{{{"AWS_SHARED_CREDENTIALS_FILE", file}, {"AWS_PROFILE", "prod"}},
                "profile [prod] is not in " + file},
           Case{{{"AWS_SHARED_CREDENTIALS_FILE", file}, {"AWS_PROFILE", "broken"}},
                "profile [broken] in " + file + " lacks"},
           Case{{{"AWS_SHARED_CREDENTIALS_FILE", dir_ + "/nope"}},
                "cannot read " + dir_ + "/nope (AWS_SHARED_CREDENTIALS_FILE)"},
       }) {
    Result<S3Credentials> r = ResolveS3Credentials(Env(c.env));
    ASSERT_FALSE(r.ok()) << c.says;
    EXPECT_EQ(r.status().code(), Code::kInvalid);
    EXPECT_NE(r.status().message().find(c.says), std::string::npos) << r.status().message();
  }
}

TEST_F(S3CredentialsTest, NothingFoundNamesTheVariablesToSet) {
  for (const auto& env :
       {std::map<std::string, std::string>{{"HOME", dir_}}, std::map<std::string, std::string>{}}) {
    Result<S3Credentials> r = ResolveS3Credentials(Env(env));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kInvalid);
    const std::string& m = r.status().message();
    for (const char* name : {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "~/.aws/credentials"}) {
      EXPECT_NE(m.find(name), std::string::npos) << m;
    }
  }
}

TEST(S3SharedCredentialsTest, MalformedSectionLine) {
  Result<S3Credentials> r = ParseSharedCredentials("[default\nx=y\n", "default", "f");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("malformed section"), std::string::npos);
}

}  // namespace
}  // namespace strata
