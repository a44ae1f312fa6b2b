#include "cluster/relay_key.h"

#include <string_view>

#include "cluster/settled_read.h"
#include "common/crypto.h"

namespace strata {

namespace {

constexpr size_t kKeyBytes = 32;

bool IsKeyText(std::string_view text) {
  if (text.size() != 2 * kKeyBytes) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string Unhex(std::string_view text) {
  std::string out(text.size() / 2, '\0');
  const auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  for (size_t i = 0; i < out.size(); i++) {
    out[i] = static_cast<char>(nibble(text[2 * i]) << 4 | nibble(text[2 * i + 1]));
  }
  return out;
}

}  // namespace

Result<std::string> LoadRelayKey(ObjectStore* store, Clock* clock) {
  Result<std::string> text = cluster_internal::GetSettled(store, kRelayKeyKey, clock, IsKeyText);
  if (text.status().IsNotFound()) {
    Status put =
        store->PutIfAbsent(kRelayKeyKey, crypto::HexEncode(crypto::RandomBytes(kKeyBytes)));
    if (!put.ok() && !put.IsExists()) return put;  // kExists: another daemon made it first
    text = cluster_internal::GetSettled(store, kRelayKeyKey, clock, IsKeyText);
  }
  STRATA_RETURN_IF_ERROR(text.status());
  if (!IsKeyText(*text)) {
    return Status::Corruption(std::string(kRelayKeyKey) +
                              " is not 64 lowercase hex digits; delete it and restart every "
                              "daemon of the store to make a new one");
  }
  return Unhex(*text);
}

}  // namespace strata
