#include "common/names.h"

#include <string>

namespace strata {

namespace {

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

}  // namespace

bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength || name.front() == '-') return false;
  for (char c : name) {
    if (!IsNameChar(c)) return false;
  }
  return true;
}

Status ValidateName(std::string_view kind, std::string_view name) {
  if (IsValidName(name)) return Status::OK();
  return Status::Invalid("invalid " + std::string(kind) + " name '" + std::string(name) +
                         "': use 1-63 letters, digits, '-' or '_', not starting with '-'");
}

}  // namespace strata
