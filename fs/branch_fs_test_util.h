// Fixture for BranchFs tests: a root branch "main" made by BranchManager, and
// a Restart() that, per test parameter, keeps memory, flushes to layers, or
// flushes nothing and reopens + recovers (a crash after the op-log sync).
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "catalog/branch_test_util.h"
#include "fs/branch_fs.h"

namespace strata::testing {

enum class Mode { kMemtable, kLayers, kReopen, kLayersReopen };

inline std::string ModeName(const ::testing::TestParamInfo<Mode>& info) {
  switch (info.param) {
    case Mode::kMemtable:
      return "Memtable";
    case Mode::kLayers:
      return "Layers";
    case Mode::kReopen:
      return "Reopen";
    case Mode::kLayersReopen:
      return "LayersReopen";
  }
  return "?";
}

class FsTest : public ::testing::TestWithParam<Mode> {
 protected:
  void SetUp() override {
    ASSERT_OK(env.Open());
    ASSERT_OK(env.manager()->CreateBranch("main", "", 1000, 1000));
  }
  // A BranchFs on a branch's head, cached per name until Restart.
  BranchFs& Fs(const std::string& name) {
    auto it = fs_.find(name);
    if (it == fs_.end()) {
      const BranchInfo* b = env.Find(name);
      EXPECT_NE(b, nullptr) << name;
      it = fs_.emplace(name, std::make_unique<BranchFs>(env.vs(), env.LineageOf(name),
                                                        b ? b->root_ino : 0))
               .first;
    }
    return *it->second;
  }
  uint64_t Root() { return env.Find("main")->root_ino; }
  void Restart() {
    fs_.clear();
    if (GetParam() == Mode::kLayers || GetParam() == Mode::kLayersReopen) {
      ASSERT_OK(env.vs()->FlushAll());
    }
    if (GetParam() == Mode::kReopen || GetParam() == Mode::kLayersReopen) {
      ASSERT_OK(env.vs()->Sync());
      ASSERT_OK(env.ReopenFromCatalog());
    }
  }
  Result<InodeAttr> Create(const std::string& branch, uint64_t dir, const std::string& name,
                           uint32_t mode = S_IFREG | 0644) {
    return Fs(branch).MakeNode(dir, name, mode, 1000, 1000, 0);
  }
  void WriteStr(const std::string& branch, uint64_t ino, uint64_t off, const std::string& s) {
    Result<size_t> n = Fs(branch).Write(ino, off, s.data(), s.size());
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    EXPECT_EQ(*n, s.size());
  }
  // The whole file (up to its size) as a string; "ERR:..." on failure.
  std::string ReadAll(const std::string& branch, uint64_t ino) {
    Result<InodeAttr> a = Fs(branch).GetAttr(ino);
    if (!a.ok()) return "ERR:" + a.status().ToString();
    std::string buf(a->size + 100, '?');
    Result<size_t> n = Fs(branch).Read(ino, 0, buf.size(), buf.data());
    if (!n.ok()) return "ERR:" + n.status().ToString();
    buf.resize(*n);
    return buf;
  }
  std::vector<std::string> Names(const std::string& branch, uint64_t dir) {
    std::vector<std::string> out;
    Result<std::vector<DirEntry>> r = Fs(branch).ReadDir(dir);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (r.ok()) {
      for (const DirEntry& e : *r) out.push_back(e.name);
    }
    return out;
  }
  uint64_t InoOf(const std::string& branch, uint64_t dir, const std::string& name) {
    Result<InodeAttr> a = Fs(branch).Lookup(dir, name);
    EXPECT_TRUE(a.ok()) << name << ": " << a.status().ToString();
    return a.ok() ? a->ino : 0;
  }
  uint64_t Size(const std::string& branch, uint64_t ino) {
    Result<InodeAttr> a = Fs(branch).GetAttr(ino);
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    return a.ok() ? a->size : UINT64_MAX;
  }
  uint32_t Nlink(const std::string& branch, uint64_t ino) {
    Result<InodeAttr> a = Fs(branch).GetAttr(ino);
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    return a.ok() ? a->nlink : UINT32_MAX;
  }
  Status Truncate(const std::string& branch, uint64_t ino, uint64_t size) {
    SetAttrRequest r;
    r.size = size;
    return Fs(branch).SetAttr(ino, r).status();
  }

  BranchEnv env;

 private:
  std::map<std::string, std::unique_ptr<BranchFs>> fs_;
};

#define STRATA_FS_MODES                                                                   \
  ::testing::Values(::strata::testing::Mode::kMemtable, ::strata::testing::Mode::kLayers, \
                    ::strata::testing::Mode::kReopen, ::strata::testing::Mode::kLayersReopen)

}  // namespace strata::testing
