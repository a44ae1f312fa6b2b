#include "storelog/log_object.h"

#include <xxhash.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "common/coding.h"

namespace strata {

namespace {

constexpr std::string_view kMagic = "STRATLOG";
constexpr uint8_t kVersion = 1;

Status Bad(const std::string& key, const std::string& why) {
  return Status::Corruption("log object " + key + ": " + why);
}

}  // namespace

std::string LogObjectPrefix(uint32_t branch) {
  return std::string(kLogObjectRoot) + std::to_string(branch) + "/";
}

std::string LogObjectKey(uint32_t branch, uint64_t number) {
  char name[32];
  std::snprintf(name, sizeof(name), "%020" PRIu64 ".log", number);
  return LogObjectPrefix(branch) + name;
}

bool ParseLogObjectKey(std::string_view key, uint32_t* branch, uint64_t* number) {
  if (key.substr(0, kLogObjectRoot.size()) != kLogObjectRoot) return false;
  const std::string rest(key.substr(kLogObjectRoot.size()));
  unsigned long b = 0;
  unsigned long long n = 0;
  int used = 0;
  if (std::sscanf(rest.c_str(), "%lu/%llu.log%n", &b, &n, &used) != 2) return false;
  if (static_cast<size_t>(used) != rest.size() || b == 0 || b > UINT32_MAX || n == 0) return false;
  if (LogObjectKey(static_cast<uint32_t>(b), n) != key) return false;  // the canonical spelling
  *branch = static_cast<uint32_t>(b);
  *number = n;
  return true;
}

std::string EncodeLogObject(const LogObject& obj) {
  std::string out;
  out.reserve(kLogObjectHeaderBytes + obj.frames.size() + kLogObjectTrailerBytes);
  out.append(kMagic);
  out.push_back(static_cast<char>(kVersion));
  out.push_back(static_cast<char>(obj.kind));
  PutFixed16(&out, 0);
  PutFixed32(&out, obj.branch);
  PutFixed64(&out, obj.epoch);
  PutFixed64(&out, obj.first_seq);
  PutFixed64(&out, obj.last_seq);
  PutFixed32(&out, obj.count);
  PutFixed32(&out, static_cast<uint32_t>(obj.frames.size()));
  out.append(obj.frames);
  PutFixed64(&out, XXH64(out.data(), out.size(), 0));
  return out;
}

Result<LogObject> DecodeLogObjectHeader(std::string_view header, const std::string& key) {
  if (header.size() < kLogObjectHeaderBytes) {
    return Bad(key, "truncated (" + std::to_string(header.size()) + " bytes)");
  }
  if (header.substr(0, kMagic.size()) != kMagic) return Bad(key, "bad magic");
  const char* p = header.data();
  if (static_cast<uint8_t>(p[8]) != kVersion) {
    return Bad(key, "unknown version " + std::to_string(static_cast<uint8_t>(p[8])));
  }
  LogObject obj;
  obj.kind = static_cast<LogObjectKind>(p[9]);
  if (obj.kind != LogObjectKind::kRecords && obj.kind != LogObjectKind::kFence) {
    return Bad(key, "unknown kind " + std::to_string(static_cast<uint8_t>(p[9])));
  }
  obj.branch = DecodeFixed32(p + 12);
  obj.epoch = DecodeFixed64(p + 16);
  obj.first_seq = DecodeFixed64(p + 24);
  obj.last_seq = DecodeFixed64(p + 32);
  obj.count = DecodeFixed32(p + 40);
  return obj;
}

Result<LogObject> DecodeLogObject(std::string_view data, const std::string& key) {
  if (data.size() < kLogObjectHeaderBytes + kLogObjectTrailerBytes) {
    return Bad(key, "truncated (" + std::to_string(data.size()) + " bytes)");
  }
  const size_t body = data.size() - kLogObjectTrailerBytes;
  if (XXH64(data.data(), body, 0) != DecodeFixed64(data.data() + body)) {
    return Bad(key, "checksum mismatch");
  }
  STRATA_ASSIGN_OR_RETURN(LogObject obj, DecodeLogObjectHeader(data, key));
  if (DecodeFixed32(data.data() + 44) != body - kLogObjectHeaderBytes) {
    return Bad(key, "bad frames length");
  }
  obj.frames.assign(data.substr(kLogObjectHeaderBytes, body - kLogObjectHeaderBytes));
  if (obj.kind == LogObjectKind::kFence && (obj.count || !obj.frames.empty() || obj.first_seq)) {
    return Bad(key, "a fence with records");
  }
  // Every frame decodes, is of this branch, and the seqs rise as the header says.
  uint32_t seen = 0;
  uint64_t last = 0;
  Status st = ForEachLogRecord(obj, [&](const OpRecord& rec) -> Status {
    if (rec.branch != obj.branch) {
      return Status::Corruption("a record of branch " + std::to_string(rec.branch));
    }
    if (seen == 0 ? rec.seq != obj.first_seq : rec.seq <= last) {
      return Status::Corruption("seq " + std::to_string(rec.seq) + " out of order");
    }
    seen++;
    last = rec.seq;
    return Status::OK();
  });
  if (!st.ok()) return Bad(key, st.message());
  if (seen != obj.count || (seen > 0 && last != obj.last_seq)) {
    return Bad(key, "the header says " + std::to_string(obj.count) + " records up to seq " +
                        std::to_string(obj.last_seq) + ", the frames hold " + std::to_string(seen) +
                        " up to seq " + std::to_string(last));
  }
  return obj;
}

Status ForEachLogRecord(const LogObject& obj, const std::function<Status(const OpRecord&)>& fn) {
  std::string_view in(obj.frames);
  while (!in.empty()) {
    OpRecord rec;
    size_t used = 0;
    Status st = DecodeOpRecord(in, &rec, &used);
    if (st.IsNotFound()) return Status::Corruption("a truncated record frame");
    STRATA_RETURN_IF_ERROR(st);
    STRATA_RETURN_IF_ERROR(fn(rec));
    in.remove_prefix(used);
  }
  return Status::OK();
}

}  // namespace strata
