// BranchDiff's schema diff: pg_dump --schema-only of every database on each
// side, compared with diff -u (docs/diff.md).
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "endpoint/branch_diff.h"
#include "endpoint/diff_server.h"
#include "endpoint/pg_client.h"

namespace strata {

namespace {

// A private directory for the dumps, removed with them.
class ScratchDir {
 public:
  static Result<std::unique_ptr<ScratchDir>> Make(const std::string& under) {
    std::string tmpl = under + "/strata-diff-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) return Status::FromErrno(errno, "mkdtemp in " + under);
    return std::unique_ptr<ScratchDir>(new ScratchDir(tmpl));
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  explicit ScratchDir(std::string path) : path_(std::move(path)) {}
  const std::string path_;
};

Result<std::string> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IO("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

Status WriteAll(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  out.close();
  return out ? Status::OK() : Status::IO("cannot write " + path);
}

std::string FirstLine(const std::string& s) {
  const size_t nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

}  // namespace

Result<std::string> BranchDiff::SchemaDiff(DiffServer& mine, DiffServer& theirs) {
  STRATA_ASSIGN_OR_RETURN(auto dbs_mine, mine.Databases());
  STRATA_ASSIGN_OR_RETURN(auto dbs_theirs, theirs.Databases());
  auto dumpable = [](const auto& dbs) {
    std::set<std::string> out;
    for (const auto& [oid, d] : dbs) {
      if (d.second) out.insert(d.first);
    }
    return out;
  };
  const std::set<std::string> on_mine = dumpable(dbs_mine), on_theirs = dumpable(dbs_theirs);
  std::set<std::string> all = on_mine;
  all.insert(on_theirs.begin(), on_theirs.end());
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<ScratchDir> dir, ScratchDir::Make(opts_.tmp_dir));

  // The schema of `db` on one side, cleaned, in a file; empty if it has none.
  auto dump = [&](DiffServer& side, bool has, const std::string& db,
                  const std::string& file) -> Status {
    std::string text;
    if (has) {
      STRATA_ASSIGN_OR_RETURN(std::string socket, side.Socket());
      const std::string raw = dir->File("raw");
      STRATA_ASSIGN_OR_RETURN(int rc, RunToFile({opts_.bin_dir + "/pg_dump", "--schema-only",
                                                 "--no-password", "-h", SocketDir(socket), "-p",
                                                 SocketPort(socket), "-U", opts_.user, "-d", db},
                                                opts_.user, raw));
      STRATA_ASSIGN_OR_RETURN(text, ReadAll(raw));
      if (rc != 0) {
        return Status::Unavailable("pg_dump of database " + db + " on " + side.branch() +
                                   " failed: " + FirstLine(text));
      }
      text = StripDumpNoise(text);
    }
    return WriteAll(file, text);
  };

  std::string out;
  for (const std::string& db : all) {
    const std::string a = dir->File("against.sql"), b = dir->File("branch.sql");
    STRATA_RETURN_IF_ERROR(dump(theirs, on_theirs.count(db) > 0, db, a));
    STRATA_RETURN_IF_ERROR(dump(mine, on_mine.count(db) > 0, db, b));
    const std::string result = dir->File("diff");
    STRATA_ASSIGN_OR_RETURN(
        int rc, RunToFile({opts_.diff_program, "-u", "--label", theirs.branch() + "/" + db,
                           "--label", mine.branch() + "/" + db, a, b},
                          "", result));
    STRATA_ASSIGN_OR_RETURN(std::string text, ReadAll(result));
    if (rc > 1) return Status::IO("diff of the schemas of " + db + " failed: " + FirstLine(text));
    out += text;
  }
  return out;
}

}  // namespace strata
