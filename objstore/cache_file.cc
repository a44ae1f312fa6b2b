#include "objstore/cache_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

// For XXH64_state_t on the stack (a streaming hash without an allocation).
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <random>
#include <utility>

#include "common/coding.h"
#include "common/fd_util.h"

namespace strata::cache_file {
namespace {

uint64_t HeaderHash(std::string_view fixed, std::string_view key) {
  XXH64_state_t state;
  XXH64_reset(&state, 0);
  XXH64_update(&state, fixed.data(), kHeaderHash);
  XXH64_update(&state, key.data(), key.size());
  return XXH64_digest(&state);
}

Status Bad(const std::string& why) { return Status::Corruption("cache file: " + why); }

bool IsFanOutName(std::string_view name) {
  return name.size() == 2 && std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

uint64_t KeyHash(std::string_view key) { return XXH64(key.data(), key.size(), 0); }

std::string FileName(uint64_t key_hash, uint64_t index) {
  char buf[64];
  if (index == kSizeRecord) {
    snprintf(buf, sizeof(buf), "%02" PRIx64 "/%016" PRIx64 ".size", key_hash >> 56, key_hash);
  } else {
    snprintf(buf, sizeof(buf), "%02" PRIx64 "/%016" PRIx64 ".%" PRIx64, key_hash >> 56, key_hash,
             index);
  }
  return buf;
}

bool ParseFileName(std::string_view subdir, std::string_view name, uint64_t* key_hash,
                   uint64_t* index) {
  // Accept only the exact spelling FileName produces, so that no two names
  // map to one file identity (which would count its bytes twice).
  constexpr size_t kHashDigits = 16;
  if (name.size() < kHashDigits + 2 || name[kHashDigits] != '.') return false;
  auto parse_hex = [](std::string_view s, uint64_t* v) {
    if (s.empty() || s.size() > 16) return false;
    *v = 0;
    for (char c : s) {
      int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (d < 0) return false;
      *v = *v << 4 | static_cast<uint64_t>(d);
    }
    return true;
  };
  uint64_t hash = 0;
  uint64_t idx = 0;
  std::string_view suffix = name.substr(kHashDigits + 1);
  if (!parse_hex(name.substr(0, kHashDigits), &hash)) return false;
  if (suffix == "size") {
    idx = kSizeRecord;
  } else if (!parse_hex(suffix, &idx) || idx == kSizeRecord) {
    return false;
  }
  std::string canonical = FileName(hash, idx);
  std::string given = std::string(subdir) + "/" + std::string(name);
  if (canonical != given) return false;
  *key_hash = hash;
  *index = idx;
  return true;
}

std::string Encode(std::string_view key, uint64_t index, uint64_t offset, uint64_t object_size,
                   std::string_view payload) {
  std::string out;
  out.reserve(kHeaderSize + key.size() + payload.size());
  PutFixed64(&out, kMagic);
  PutFixed32(&out, kFormatVersion);
  PutFixed32(&out, static_cast<uint32_t>(key.size()));
  PutFixed64(&out, index);
  PutFixed64(&out, offset);
  PutFixed64(&out, object_size);
  PutFixed32(&out, static_cast<uint32_t>(payload.size()));
  PutFixed32(&out, 0);
  PutFixed64(&out, XXH64(payload.data(), payload.size(), 0));
  PutFixed64(&out, HeaderHash(out, key));
  out.append(key);
  out.append(payload);
  return out;
}

Result<CacheFile> Decode(std::string_view file) {
  if (file.size() < kHeaderSize) {
    return Bad("only " + std::to_string(file.size()) + " bytes, shorter than a header");
  }
  const char* h = file.data();
  if (DecodeFixed64(h + kHeaderMagic) != kMagic) return Bad("bad magic");
  const uint32_t version = DecodeFixed32(h + kHeaderVersion);
  if (version != kFormatVersion) return Bad("format version " + std::to_string(version));
  const uint32_t key_length = DecodeFixed32(h + kHeaderKeyLength);
  if (key_length == 0 || key_length > kMaxKeyLength || key_length > file.size() - kHeaderSize) {
    return Bad("bad key length " + std::to_string(key_length));
  }
  CacheFile f;
  f.key = file.substr(kHeaderSize, key_length);
  if (DecodeFixed64(h + kHeaderHash) != HeaderHash(file, f.key)) return Bad("header checksum");
  if (DecodeFixed32(h + kHeaderReserved) != 0) return Bad("reserved bits set");
  f.index = DecodeFixed64(h + kHeaderIndex);
  f.offset = DecodeFixed64(h + kHeaderOffset);
  f.object_size = DecodeFixed64(h + kHeaderObjectSize);
  const uint32_t payload_length = DecodeFixed32(h + kHeaderPayloadLength);
  const size_t body = kHeaderSize + key_length;
  if (file.size() - body != payload_length) {
    return Bad("holds " + std::to_string(file.size() - body) + " payload bytes, header says " +
               std::to_string(payload_length));
  }
  f.payload = file.substr(body);
  if (DecodeFixed64(h + kHeaderPayloadHash) != XXH64(f.payload.data(), f.payload.size(), 0)) {
    return Bad("payload checksum");
  }
  const bool is_size_record = f.index == kSizeRecord;
  if (is_size_record ? (payload_length != 0 || f.offset != 0)
                     : (payload_length == 0 || f.offset > f.object_size ||
                        payload_length > f.object_size - f.offset)) {
    return Bad("payload [" + std::to_string(f.offset) + ", +" + std::to_string(payload_length) +
               ") does not fit an object of " + std::to_string(f.object_size) + " bytes");
  }
  return f;
}

Status WriteAtomically(const std::string& path, std::string_view data) {
  const std::string dir = path.substr(0, path.rfind('/'));
  const std::string tmp = dir + "/" + TempFileName();
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0 && errno == ENOENT) {
    // The fan-out directory (or the whole cache directory) is missing.
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return Status::IO("mkdir " + dir + ": " + ec.message());
    fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  }
  if (fd < 0) return Status::FromErrno(errno, "create " + tmp);
  UniqueFd closer(fd);
  Status s = WriteAll(fd, data, "write " + tmp);
  if (s.ok() && close(closer.release()) != 0) s = Status::FromErrno(errno, "close " + tmp);
  if (s.ok() && rename(tmp.c_str(), path.c_str()) != 0) {
    s = Status::FromErrno(errno, "rename " + tmp + " to " + path);
  }
  if (!s.ok()) unlink(tmp.c_str());
  return s;
}

Result<std::string> ReadWhole(const std::string& path, uint64_t max_size) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open " + path);
  UniqueFd closer(fd);
  struct stat st;
  if (fstat(fd, &st) != 0) return Status::FromErrno(errno, "fstat " + path);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > max_size) return Bad(std::to_string(size) + " bytes, too large");
  std::string out(size, '\0');
  uint64_t done = 0;
  while (done < size) {
    ssize_t n = pread(fd, out.data() + done, size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(errno, "read " + path);
    if (n == 0) return Bad("shrank while being read");
    done += static_cast<uint64_t>(n);
  }
  return out;
}

Result<std::vector<FoundFile>> Scan(const std::string& dir, size_t* removed) {
  DIR* top = opendir(dir.c_str());
  if (top == nullptr) return Status::FromErrno(errno, "opendir " + dir);
  std::vector<FoundFile> found;
  // Only the fan-out directories are ours to clean: anything else at the top
  // is left alone, in case `dir` names a wrong place.
  while (struct dirent* e = readdir(top)) {
    const std::string_view sub = e->d_name;
    if (!IsFanOutName(sub)) continue;
    DIR* d = opendir((dir + "/" + e->d_name).c_str());
    if (d == nullptr) continue;
    while (struct dirent* f = readdir(d)) {
      const std::string_view name = f->d_name;
      struct stat st;
      if (name == "." || name == ".." ||
          fstatat(dirfd(d), f->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || S_ISDIR(st.st_mode)) {
        continue;
      }
      FoundFile file;
      if (!S_ISREG(st.st_mode) || st.st_size < static_cast<off_t>(kHeaderSize) ||
          !ParseFileName(sub, name, &file.key_hash, &file.index)) {
        if (unlinkat(dirfd(d), f->d_name, 0) == 0) (*removed)++;
        continue;
      }
      file.bytes = static_cast<uint64_t>(st.st_size);
      file.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
      found.push_back(file);
    }
    closedir(d);
  }
  closedir(top);
  std::sort(found.begin(), found.end(),
            [](const FoundFile& a, const FoundFile& b) { return a.mtime_ns < b.mtime_ns; });
  return found;
}

}  // namespace strata::cache_file
