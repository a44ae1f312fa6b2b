#include "tools/verify_command.h"

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "objstore/store_stack.h"
#include "tools/cli_format.h"
#include "tools/store_verify.h"

namespace strata::cli {

namespace {

nlohmann::json BranchSpaceJson(const VerifyBranchSpace& b) {
  return {{"branch", b.branch},
          {"name", b.name.empty() ? nlohmann::json(nullptr) : nlohmann::json(b.name)},
          {"layers", b.layers},
          {"kinds", b.kinds},
          {"layer_bytes", b.layer_bytes},
          {"garbage_bytes", b.garbage_bytes},
          {"history_bytes", b.history_bytes},
          {"exclusive_bytes", b.exclusive_bytes}};
}

// "branch main (id 1): 12 layers (compacted 2, delta 10), 40.1 MiB, 3.2 MiB garbage"
std::string BranchSpaceLine(const VerifyBranchSpace& b) {
  std::string kinds;
  for (const auto& [kind, n] : b.kinds) {
    kinds += (kinds.empty() ? "" : ", ") + kind + " " + std::to_string(n);
  }
  std::string name = b.name.empty() ? "(deleted)" : b.name;
  return "branch " + name + " (id " + std::to_string(b.branch) + "): " + std::to_string(b.layers) +
         " layers" + (kinds.empty() ? "" : " (" + kinds + ")") + ", " + HumanSize(b.layer_bytes) +
         ", " + HumanSize(b.garbage_bytes) + " garbage\n";
}

}  // namespace

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
    nlohmann::json branches = nlohmann::json::array();
    for (const VerifyBranchSpace& b : r.branches) branches.push_back(BranchSpaceJson(b));
    for (const VerifyProblem& p : r.problems)
      problems.push_back({{"key", p.key}, {"what", p.what}});
    out << nlohmann::json{{"store", store_url},
                          {"objects", r.objects},
                          {"bytes", r.bytes},
                          {"layers", r.layers},
                          {"values", r.values},
                          {"problems", problems},
                          {"unreferenced", r.unreferenced},
                          {"unreferenced_bytes", r.unreferenced_bytes},
                          {"branches", branches},
                          {"garbage_bytes", r.garbage_bytes},
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
    for (const VerifyBranchSpace& b : r.branches) out << BranchSpaceLine(b);
    out << "garbage (what a collection pass frees at least): " << HumanSize(r.garbage_bytes)
        << "\n";
    for (const std::string& k : r.unreferenced) {
      out << "note: " << k
          << " is named by no manifest (leaked by an interrupted flush or compaction; the "
             "daemon's collector deletes it)\n";
    }
    if (!r.unreferenced.empty()) {
      out << "leaked: " << r.unreferenced.size() << " objects, " << HumanSize(r.unreferenced_bytes)
          << "\n";
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
