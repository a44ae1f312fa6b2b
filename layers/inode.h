// InodeAttr: the value stored under an inode's kAttr key.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace strata {

struct InodeAttr {
  uint64_t ino = 0;
  uint32_t mode = 0;  // type and permission bits, as st_mode
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t nlink = 0;
  uint64_t size = 0;
  uint64_t data_id = 0;  // page keys of this inode use data_id (layers/key.h)
  uint64_t rdev = 0;
  uint64_t parent = 0;  // directories: the one directory holding this one
  int64_t atime_ns = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;

  bool IsDir() const { return S_ISDIR(mode); }
  bool IsReg() const { return S_ISREG(mode); }
  bool IsLink() const { return S_ISLNK(mode); }
};

std::string EncodeInodeAttr(const InodeAttr& a);
// False if `v` is not a well-formed encoding.
bool DecodeInodeAttr(std::string_view v, InodeAttr* a);

}  // namespace strata
