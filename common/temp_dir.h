// TempDir: a fresh directory under /tmp for a test, removed with everything
// in it when the object goes away. Test code only.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>

namespace strata::testing {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/strata-test-XXXXXX";
    char* p = mkdtemp(tmpl);
    if (p == nullptr) abort();
    path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace strata::testing
