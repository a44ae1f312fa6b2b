#include "catalog/branch_changes.h"

#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <utility>

#include "layers/inode.h"
#include "layers/key.h"

namespace strata {

namespace {

// A read view: a lineage and the top directory its walk starts at.
struct View {
  Lineage lineage;
  uint64_t root = 0;
};

// What a side wrote at one level: seqs (from, to] of `branch`.
struct Span {
  uint32_t branch = 0;
  uint64_t from = 0, to = 0;
};

uint64_t Blocks(uint64_t size) { return (size + kPageSize - 1) / kPageSize; }

struct Entry {
  std::string path;
  bool dir = false;
};

// ino -> path of every name in a view's tree: directory entries only.
Result<std::unordered_map<uint64_t, Entry>> WalkTree(VersionStore* vs, const View& v) {
  std::unordered_map<uint64_t, Entry> out;
  std::vector<std::pair<uint64_t, std::string>> dirs{{v.root, ""}};
  while (!dirs.empty()) {
    const uint64_t dir = dirs.back().first;
    const std::string prefix = std::move(dirs.back().second);
    dirs.pop_back();
    STRATA_RETURN_IF_ERROR(
        vs->Scan(v.lineage, DirentPrefix(dir), [&](std::string_view key, const std::string& value) {
          uint64_t ino = 0;
          uint32_t type = 0;
          if (!DecodeDirent(value, &ino, &type) || out.count(ino)) return;
          Entry e{prefix + std::string(DirentName(key)), S_ISDIR(type)};
          if (e.dir) dirs.emplace_back(ino, e.path + "/");
          out.emplace(ino, std::move(e));
        }));
  }
  return out;
}

// Builds one side's file changes from the keys its spans wrote.
class SideBuilder {
 public:
  SideBuilder(VersionStore* vs, View side, View base)
      : vs_(vs), side_(std::move(side)), base_(std::move(base)) {}

  Result<SideChanges> Build(const std::vector<Span>& spans) {
    SideChanges out;
    std::set<std::string> keys;
    for (const Span& s : spans) {
      STRATA_ASSIGN_OR_RETURN(std::vector<KeyChange> changed,
                              vs_->ChangedKeys(s.branch, s.from, s.to));
      for (KeyChange& c : changed) keys.insert(std::move(c.key));
    }
    out.keys = keys.size();
    // Only pages and attributes matter: every create, unlink, rename,
    // truncate and purge writes the inode's attributes (docs/keyspace.md).
    for (const std::string& k : keys) {
      if (k.size() < 9) continue;
      const uint64_t id = KeyIno(k);
      if (KeyKindOf(k) == KeyKind::kPage && k.size() == 17) {
        blocks_[id].insert(DecodeBig64(k.data() + 9));
      } else if (KeyKindOf(k) == KeyKind::kAttr && id != 0) {
        inos_.insert(id);
      }
    }
    STRATA_RETURN_IF_ERROR(ResolveDataIds());
    STRATA_ASSIGN_OR_RETURN(side_paths_, WalkTree(vs_, side_));
    for (uint64_t ino : inos_) {
      STRATA_ASSIGN_OR_RETURN(std::optional<FileChange> f, FileOf(ino));
      if (f) out.files.push_back(std::move(*f));
    }
    std::sort(out.files.begin(), out.files.end(),
              [](const FileChange& x, const FileChange& y) { return x.path < y.path; });
    return out;
  }

 private:
  using Attrs = std::unordered_map<uint64_t, std::optional<InodeAttr>>;

  Result<std::optional<InodeAttr>> Attr(bool base, uint64_t ino) {
    Attrs& cache = base ? base_attrs_ : side_attrs_;
    auto it = cache.find(ino);
    if (it != cache.end()) return it->second;
    const Lineage& l = base ? base_.lineage : side_.lineage;
    STRATA_ASSIGN_OR_RETURN(std::optional<std::string> v, vs_->Get(l, AttrKey(ino)));
    std::optional<InodeAttr> a;
    InodeAttr decoded;
    if (v && DecodeInodeAttr(*v, &decoded)) a = decoded;
    cache.emplace(ino, a);
    return a;
  }

  // The inode each written data id belongs to. A data id is its inode's
  // number until a truncate to zero gives it a fresh one; then the owner is
  // an inode whose attributes changed, or (the truncate came earlier) any
  // file of the tree. A data id no live inode names was retired: its pages
  // are visible nowhere and are not counted.
  Status ResolveDataIds() {
    std::vector<uint64_t> unresolved;
    for (const auto& [data_id, blocks] : blocks_) {
      bool found = false;
      for (bool base : {false, true}) {
        STRATA_ASSIGN_OR_RETURN(std::optional<InodeAttr> a, Attr(base, data_id));
        if (a && a->data_id == data_id) found = true;
      }
      if (found) {
        inos_.insert(data_id);
      } else {
        unresolved.push_back(data_id);
      }
    }
    if (unresolved.empty()) return Status::OK();
    std::unordered_map<uint64_t, uint64_t> owner;  // data id -> ino
    for (uint64_t ino : inos_) {
      STRATA_ASSIGN_OR_RETURN(std::optional<InodeAttr> a, Attr(false, ino));
      if (a) owner.emplace(a->data_id, ino);
    }
    if (std::any_of(unresolved.begin(), unresolved.end(),
                    [&](uint64_t d) { return !owner.count(d); })) {
      // Files truncated to zero before the base: read the attributes of
      // every file of the tree (names and attributes only, never a page).
      STRATA_ASSIGN_OR_RETURN(auto tree, WalkTree(vs_, side_));
      for (const auto& [ino, e] : tree) {
        if (e.dir) continue;
        STRATA_ASSIGN_OR_RETURN(std::optional<InodeAttr> a, Attr(false, ino));
        if (a) owner.emplace(a->data_id, ino);
      }
    }
    for (uint64_t d : unresolved) {
      auto it = owner.find(d);
      if (it != owner.end()) inos_.insert(it->second);
    }
    return Status::OK();
  }

  Result<std::string> PathOf(uint64_t ino) {
    if (auto it = side_paths_.find(ino); it != side_paths_.end()) return it->second.path;
    if (!base_paths_) {
      STRATA_ASSIGN_OR_RETURN(auto tree, WalkTree(vs_, base_));
      base_paths_ = std::move(tree);
    }
    if (auto it = base_paths_->find(ino); it != base_paths_->end()) return it->second.path;
    return "#ino-" + std::to_string(ino);  // open but nameless on both
  }

  uint64_t PagesOf(const InodeAttr& a) {
    auto it = blocks_.find(a.data_id);
    return it == blocks_.end() ? 0 : it->second.size();
  }

  Result<std::optional<FileChange>> FileOf(uint64_t ino) {
    STRATA_ASSIGN_OR_RETURN(std::optional<InodeAttr> now, Attr(false, ino));
    STRATA_ASSIGN_OR_RETURN(std::optional<InodeAttr> was, Attr(true, ino));
    if (now && now->nlink == 0) now.reset();               // unlinked, still open
    if (!now && !was) return std::optional<FileChange>();  // came and went
    if ((now ? *now : *was).IsDir()) return std::optional<FileChange>();
    FileChange f;
    f.ino = ino;
    f.created = !was;
    f.deleted = !now;
    f.size = now ? now->size : 0;
    f.base_size = was ? was->size : 0;
    if (f.deleted) {
      f.pages = Blocks(f.base_size);
    } else if (was && was->data_id != now->data_id) {
      f.truncated = true;
      // Every old page is gone; the new ones past the old end add to it.
      const uint64_t old_blocks = Blocks(f.base_size);
      f.pages = old_blocks;
      if (auto it = blocks_.find(now->data_id); it != blocks_.end()) {
        f.pages += std::count_if(it->second.begin(), it->second.end(),
                                 [&](uint64_t b) { return b >= old_blocks; });
      }
    } else {
      f.pages = PagesOf(*now);
    }
    if (!f.created && !f.deleted && !f.truncated && f.pages == 0 && f.size == f.base_size) {
      return std::optional<FileChange>();  // times or modes only
    }
    STRATA_ASSIGN_OR_RETURN(f.path, PathOf(ino));
    return std::optional<FileChange>(std::move(f));
  }

  VersionStore* const vs_;
  const View side_, base_;
  std::map<uint64_t, std::set<uint64_t>> blocks_;  // data id -> blocks written
  std::set<uint64_t> inos_;                        // inodes to report on
  Attrs side_attrs_, base_attrs_;
  std::unordered_map<uint64_t, Entry> side_paths_;
  std::optional<std::unordered_map<uint64_t, Entry>> base_paths_;
};

uint64_t Resolve(VersionStore* vs, const Level& l) {
  return l.max_seq == UINT64_MAX ? vs->HeadSeq(l.branch) : l.max_seq;
}

// One side's spans: its own levels above the common one, whole, and the
// common level from the base point to where this side reads it.
std::vector<Span> SpansOf(const Lineage& lineage, size_t common, uint64_t base_seq,
                          uint64_t bound) {
  std::vector<Span> spans;
  for (size_t i = 0; i < common; i++) spans.push_back({lineage[i].branch, 0, lineage[i].max_seq});
  if (bound > base_seq) spans.push_back({lineage[common].branch, base_seq, bound});
  return spans;
}

size_t LevelOf(const Lineage& l, uint32_t branch) {
  for (size_t i = 0; i < l.size(); i++) {
    if (l[i].branch == branch) return i;
  }
  return l.size();
}

}  // namespace

Result<CommonPoint> FindCommonPoint(VersionStore* versions, const CatalogData& cat,
                                    const BranchInfo& a, const BranchInfo& b) {
  const Lineage la = cat.LineageOf(a.id), lb = cat.LineageOf(b.id);
  for (const Level& level : la) {
    const size_t j = LevelOf(lb, level.branch);
    if (j == lb.size()) continue;
    return CommonPoint{level.branch, std::min(Resolve(versions, level), Resolve(versions, lb[j]))};
  }
  return Status::Invalid("branches '" + a.name + "' and '" + b.name +
                         "' have no common ancestor: nothing to diff against");
}

Result<BranchChanges> DiffBranches(VersionStore* versions, const CatalogData& cat,
                                   const BranchInfo& a, const BranchInfo& b) {
  BranchChanges out;
  STRATA_ASSIGN_OR_RETURN(out.base, FindCommonPoint(versions, cat, a, b));
  const BranchInfo* common = cat.FindBranchById(out.base.branch);
  const View base{cat.LineageOf(out.base.branch, out.base.seq), common->root_ino};
  for (const BranchInfo* side : {&a, &b}) {
    const Lineage l = cat.LineageOf(side->id);
    const size_t c = LevelOf(l, out.base.branch);
    SideBuilder builder(versions, View{l, side->root_ino}, base);
    STRATA_ASSIGN_OR_RETURN(SideChanges sc,
                            builder.Build(SpansOf(l, c, out.base.seq, Resolve(versions, l[c]))));
    (side == &a ? out.branch : out.against) = std::move(sc);
  }
  return out;
}

Result<SideChanges> ChangesSince(VersionStore* versions, const CatalogData& cat,
                                 const BranchInfo& branch, uint64_t since_seq) {
  SideBuilder builder(versions, View{cat.LineageOf(branch.id), branch.root_ino},
                      View{cat.LineageOf(branch.id, since_seq), branch.root_ino});
  return builder.Build({Span{branch.id, since_seq, UINT64_MAX}});
}

Result<std::string> ReadFirstPage(VersionStore* versions, const CatalogData& cat,
                                  const BranchInfo& branch, uint64_t seq, std::string_view path) {
  const Lineage lineage = cat.LineageOf(branch.id, seq);
  uint64_t ino = branch.root_ino;
  std::string_view rest = path;
  while (!rest.empty()) {
    const size_t slash = rest.find('/');
    const std::string_view name = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    STRATA_ASSIGN_OR_RETURN(std::optional<std::string> dirent,
                            versions->Get(lineage, DirentKey(ino, name)));
    if (!dirent || !DecodeDirent(*dirent, &ino)) {
      return Status::NotFound("branch '" + branch.name + "' has no " + std::string(path));
    }
  }
  STRATA_ASSIGN_OR_RETURN(std::optional<std::string> attr, versions->Get(lineage, AttrKey(ino)));
  InodeAttr a;
  if (!attr || !DecodeInodeAttr(*attr, &a) || !a.IsReg()) {
    return Status::NotFound("branch '" + branch.name + "': " + std::string(path) +
                            " is not a regular file");
  }
  STRATA_ASSIGN_OR_RETURN(std::optional<std::string> page,
                          versions->Get(lineage, PageKey(a.data_id, 0)));
  std::string out = page.value_or("");
  out.resize(kPageSize, '\0');
  return out;
}

}  // namespace strata
