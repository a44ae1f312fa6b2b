#include "tools/verify_command.h"

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "daemon/store_stack.h"
#include "daemon/store_verify.h"

namespace strata::cli {

Status Verify(const std::string& store_url, bool json, std::ostream& out) {
  StoreStackOptions o;
  o.url = store_url;
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<StoreStack> stack, StoreStack::Open(o));
  const auto start = std::chrono::steady_clock::now();
  STRATA_ASSIGN_OR_RETURN(VerifyReport r, VerifyStore(stack->store()));
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (json) {
    nlohmann::json problems = nlohmann::json::array();
    for (const VerifyProblem& p : r.problems)
      problems.push_back({{"key", p.key}, {"what", p.what}});
    out << nlohmann::json{{"store", store_url},
                          {"objects", r.objects},
                          {"bytes", r.bytes},
                          {"layers", r.layers},
                          {"values", r.values},
                          {"problems", problems},
                          {"unreferenced", r.unreferenced},
                          {"unknown", r.unknown},
                          {"seconds", secs}}
               .dump(2)
        << "\n";
  } else {
    char line[256];
    std::snprintf(
        line, sizeof(line), "checked %llu objects (%.1f MiB) in %.1f s: %llu layers, %llu values\n",
        static_cast<unsigned long long>(r.objects), r.bytes / 1048576.0, secs,
        static_cast<unsigned long long>(r.layers), static_cast<unsigned long long>(r.values));
    out << line;
    for (const std::string& k : r.unreferenced) {
      out << "note: " << k << " is named by no manifest (left by an interrupted flush)\n";
    }
    for (const std::string& k : r.unknown) out << "note: " << k << " is not a strata object\n";
    for (const VerifyProblem& p : r.problems) out << "PROBLEM: " << p.key << ": " << p.what << "\n";
  }
  if (!r.problems.empty()) {
    return Status::Corruption(std::to_string(r.problems.size()) + " problem(s) in " + store_url);
  }
  if (!json) out << "no problems found in " << store_url << "\n";
  return Status::OK();
}

}  // namespace strata::cli
