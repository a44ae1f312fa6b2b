// Fuzz target: the Authorization header of a TCP request to the control API
// (Api::Authenticate, api/api_tokens.h). The API knows its admin token and
// one owner token; an input is the header's whole value. Whatever the bytes,
// a request is let in only with one of those two exact headers, as the right
// caller, and nothing else changes its answer. Built as a libFuzzer fuzzer
// with -DSTRATA_FUZZ=ON (clang), else run over its seeds in
// tests/fuzz/token_fuzz/ (CMake's strata_fuzz).
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "api/api.h"
#include "api/api_tokens.h"
#include "catalog/catalog.h"
#include "objstore/object_store.h"

namespace {

constexpr char kAdmin[] = "0123456789abcdef0123456789abcdef";

struct World {
  World() {
    char tmpl[] = "/tmp/strata-token-fuzz.XXXXXX";
    const std::string dir = mkdtemp(tmpl);
    auto opened = strata::OpenObjectStore("file://" + dir);
    if (!opened.ok()) abort();
    store = std::move(opened).value();
    auto loaded = strata::Catalog::Load(store.get());
    if (!loaded.ok()) abort();
    catalog = std::move(loaded).value();
    auto issued = strata::ApiTokens(catalog.get(), strata::Clock::Real()).Issue("team-a", 0);
    if (!issued.ok()) abort();
    owner_token = issued->token;
    owner_id = issued->info.id;
    strata::ApiContext ctx;
    ctx.catalog = catalog.get();
    ctx.api_token = kAdmin;
    ctx.auth_limits.burst = 1 << 30;  // every input is judged on its own
    api = std::make_unique<strata::Api>(ctx);
    // Checking a token reads the catalog in memory only: the files can go.
    std::filesystem::remove_all(dir);
  }
  std::unique_ptr<strata::ObjectStore> store;
  std::unique_ptr<strata::Catalog> catalog;
  std::unique_ptr<strata::Api> api;
  std::string owner_token, owner_id;
};

World& TheWorld() {
  static World* w = new World;
  return *w;
}

}  // namespace

int Judge(const std::string& header);

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  World& w = TheWorld();
  // The two headers that must work, once: a fuzzer rarely finds the owner's secret.
  static const bool checked =
      (Judge(std::string("Bearer ") + kAdmin), Judge("Bearer " + w.owner_token), true);
  (void)checked;
  return Judge(std::string(reinterpret_cast<const char*>(data), size));
}

int Judge(const std::string& header) {
  World& w = TheWorld();
  const size_t size = header.size();
  strata::HttpRequest req;
  req.method = "GET";
  req.path = "/v1/branches";
  req.peer = "10.0.0.1:5000";
  req.headers["authorization"] = header;
  const strata::Result<strata::Caller> caller = w.api->Authenticate(req);
  const bool owner = strata::ApiTokens::IsOwnerToken(header.substr(std::min<size_t>(7, size)));
  if (header == std::string("Bearer ") + kAdmin) {
    if (!caller.ok() || !caller->admin()) abort();
  } else if (header == "Bearer " + w.owner_token) {
    if (!caller.ok() || caller->owner != "team-a" || caller->token_id != w.owner_id || !owner) {
      abort();
    }
  } else if (caller.ok() || caller.status().code() != strata::Code::kPermission) {
    abort();
  }
  return 0;
}
