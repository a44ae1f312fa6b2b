// Tests of the rendering of branches, snapshots and status.
#include "tools/render.h"

#include <gtest/gtest.h>

namespace strata::cli {
namespace {

using nlohmann::json;

json Branch(const char* name, json parent, uint64_t fork, uint64_t seq) {
  return {{"name", name},
          {"id", 1},
          {"parent", parent},
          {"fork_seq", fork},
          {"seq", seq},
          {"durable_seq", seq / 2},
          {"durability", "remote"},
          {"acked_seq", seq - 1},
          {"lag", seq - 1 - seq / 2},
          {"created", "2024-05-01T12:00:00Z"},
          {"memtable_bytes", 2048},
          {"layers", 3},
          {"layer_bytes", 12897485},
          {"owner", nullptr},
          {"expires_at", nullptr}};
}

// A branch with an owner, an expiry and a running endpoint.
json FleetBranch(const char* name, json parent, uint64_t fork, uint64_t seq) {
  json b = Branch(name, parent, fork, seq);
  b["owner"] = "team-a";
  b["expires_at"] = "2024-05-02T12:00:00.000Z";
  b["endpoint"] = {{"state", "running"}, {"connections", 2}, {"idle_timeout_seconds", 300}};
  return b;
}

// A detached branch as a daemon with history windows and space accounting
// sends it (docs/api.md).
json SpaceBranch() {
  return json::parse(R"({
    "name": "agent-1", "id": 1, "parent": null, "fork_seq": 0, "seq": 130,
    "durable_seq": 65, "durability": "remote", "acked_seq": 129, "lag": 64,
    "created": "2024-05-01T12:00:00Z", "memtable_bytes": 2048, "layers": 3,
    "layer_bytes": 12897485, "owner": null, "expires_at": null,
    "history_seconds": 3600, "history_default": true,
    "oldest_point": {"seq": 4711, "time": "2026-12-04T12:00:00Z"},
    "logical_bytes": 536870912, "exclusive_bytes": 12897485, "history_bytes": 1572864,
    "space_as_of": "2026-12-04T13:00:00Z", "detached_from": "main"})");
}

TEST(RenderTest, Cells) {
  json o = {{"s", "x"}, {"n", 42}, {"z", nullptr}, {"big", 18446744073709551615ULL}};
  EXPECT_EQ(Cell(o, "s"), "x");
  EXPECT_EQ(Cell(o, "n"), "42");
  EXPECT_EQ(Cell(o, "z"), "-");
  EXPECT_EQ(Cell(o, "missing"), "-");
  EXPECT_EQ(Cell(o, "big"), "18446744073709551615");
  EXPECT_EQ(Cell(json("not an object"), "s"), "-");
  EXPECT_EQ(Cell(json({{"m", "FATAL: x\nLOG: y\n"}}), "m"), "FATAL: x; LOG: y");
  EXPECT_EQ(SizeCell(o, "n"), "42 B");
  EXPECT_EQ(SizeCell(o, "s"), "-");
}

TEST(RenderTest, DurationAndExpiryCells) {
  json o = {{"t", 300}, {"s", "x"}, {"expires_at", nullptr}};
  EXPECT_EQ(DurationCell(o, "t"), "5m");
  EXPECT_EQ(DurationCell(o, "s"), "-");
  EXPECT_EQ(DurationCell(o, "missing"), "-");
  EXPECT_EQ(ExpiryCell(o), "never");
  o["expires_at"] = "2030-01-01T00:00:00.000Z";
  EXPECT_EQ(ExpiryCell(o), "2030-01-01T00:00:00.000Z");
  EXPECT_EQ(EndpointStateCell(FleetBranch("a", nullptr, 0, 1)), "running");
  EXPECT_EQ(EndpointStateCell(Branch("a", nullptr, 0, 1)), "-");
}

TEST(RenderTest, KeyValuesAlignsValues) {
  EXPECT_EQ(KeyValues({{"a", "1"}, {"longer key", "2"}}),
            "a:           1\n"
            "longer key:  2\n");
  EXPECT_EQ(KeyValues({}), "");
}

TEST(RenderTest, BranchTable) {
  json list =
      json::array({Branch("main", nullptr, 0, 120), FleetBranch("agent-1", "main", 100, 130)});
  EXPECT_EQ(RenderBranchTable(list),
            "NAME     PARENT  FORK_SEQ  SEQ  DURABLE_SEQ  DURABILITY  CREATED               STATE  "
            "  OWNER   EXPIRES                   LOGICAL  EXCLUSIVE  HISTORY\n"
            "main     -              -  120           60  remote      2024-05-01T12:00:00Z  -      "
            "  -       -                               -          -        -\n"
            "agent-1  main         100  130           65  remote      2024-05-01T12:00:00Z  running"
            "  team-a  2024-05-02T12:00:00.000Z        -          -        -\n");
  EXPECT_EQ(RenderBranchTable(json::array()),
            "NAME  PARENT  FORK_SEQ  SEQ  DURABLE_SEQ  DURABILITY  CREATED  STATE  OWNER  EXPIRES  "
            "LOGICAL  EXCLUSIVE  HISTORY\n");
}

TEST(RenderTest, BranchTableSpaceColumns) {
  json list = json::array({SpaceBranch()});
  EXPECT_EQ(RenderBranchTable(list),
            "NAME     PARENT  FORK_SEQ  SEQ  DURABLE_SEQ  DURABILITY  CREATED               STATE  "
            "OWNER  EXPIRES    LOGICAL  EXCLUSIVE  HISTORY\n"
            "agent-1  -              -  130           65  remote      2024-05-01T12:00:00Z  -      "
            "-      -        512.0 MiB   12.3 MiB  1.5 MiB\n");
}

TEST(RenderTest, BranchDetail) {
  EXPECT_EQ(RenderBranchDetail(FleetBranch("agent-1", "main", 100, 130)),
            "name:            agent-1\n"
            "id:              1\n"
            "parent:          main (forked at seq 100)\n"
            "created:         2024-05-01T12:00:00Z\n"
            "owner:           team-a\n"
            "expires:         2024-05-02T12:00:00.000Z\n"
            "durability:      remote\n"
            "seq:             130\n"
            "acked seq:       129\n"
            "durable seq:     65\n"
            "lag:             64\n"
            "memtable:        2.0 KiB\n"
            "layers:          3 (12.3 MiB)\n"
            "history:         -\n"
            "oldest point:    -\n"
            "logical size:    -\n"
            "exclusive size:  -\n"
            "history size:    -\n"
            "space as of:     -\n"
            "detached from:   -\n"
            "endpoint:        running, 2 connections, idle timeout 5m\n"
            "held by:         -\n");
}

TEST(RenderTest, BranchDetailSaysWhereTheBranchIsHeld) {
  auto held_by = [](const json& holder) {
    json b = FleetBranch("a", nullptr, 0, 1);
    b["holder"] = holder;
    const std::string out = RenderBranchDetail(b);
    const size_t at = out.find("held by:");
    return at == std::string::npos ? out : out.substr(at + 17, out.find('\n', at) - at - 17);
  };
  EXPECT_EQ(held_by({{"node", nullptr}, {"epoch", 0}}),
            "nobody (the next daemon to write it takes it)");
  EXPECT_EQ(held_by({{"node", "n1"},
                     {"epoch", 3},
                     {"alive", true},
                     {"here", true},
                     {"since", "2026-12-07T09:00:00Z"}}),
            "n1 (this daemon), epoch 3, since 2026-12-07T09:00:00Z");
  EXPECT_EQ(held_by({{"node", "n2"},
                     {"epoch", 4},
                     {"alive", true},
                     {"here", false},
                     {"since", "2026-12-07T09:00:00Z"}}),
            "n2, epoch 4, since 2026-12-07T09:00:00Z");
  EXPECT_EQ(held_by({{"node", "n2"},
                     {"epoch", 4},
                     {"alive", false},
                     {"here", false},
                     {"since", "2026-12-07T09:00:00Z"}}),
            "n2 (dead: the next daemon to write it takes it), epoch 4, since 2026-12-07T09:00:00Z");
  std::string root = RenderBranchDetail(Branch("main", nullptr, 0, 10));
  EXPECT_NE(root.find("parent:          - (a root branch)\n"), std::string::npos) << root;
  EXPECT_NE(root.find("owner:           -\n"), std::string::npos) << root;
  EXPECT_NE(root.find("expires:         never\n"), std::string::npos) << root;
  EXPECT_NE(root.find("endpoint:        -\n"), std::string::npos) << root;
}

TEST(RenderTest, BranchDetailHistoryAndSpace) {
  std::string out = RenderBranchDetail(SpaceBranch());
  EXPECT_NE(out.find("layers:          3 (12.3 MiB)\n"
                     "history:         1h (default)\n"
                     "oldest point:    seq 4711 (2026-12-04T12:00:00Z)\n"
                     "logical size:    512.0 MiB\n"
                     "exclusive size:  12.3 MiB\n"
                     "history size:    1.5 MiB\n"
                     "space as of:     2026-12-04T13:00:00Z\n"
                     "detached from:   main\n"),
            std::string::npos)
      << out;
  json own = SpaceBranch();
  own["history_seconds"] = 0;
  own["history_default"] = false;
  own["oldest_point"] = nullptr;
  out = RenderBranchDetail(own);
  EXPECT_NE(out.find("history:         0s\noldest point:    -\n"), std::string::npos) << out;
}

TEST(RenderTest, BranchSettings) {
  EXPECT_EQ(DescribeBranchSettings(FleetBranch("agent-1", "main", 100, 130)),
            "branch agent-1: durability remote, expires 2024-05-02T12:00:00.000Z, idle timeout 5m");
  EXPECT_EQ(DescribeBranchSettings(Branch("main", nullptr, 0, 1)),
            "branch main: durability remote, expires never");
  json b = SpaceBranch();
  EXPECT_EQ(DescribeBranchSettings(b),
            "branch agent-1: durability remote, expires never, history 1h (default)");
  b["history_seconds"] = 172800;
  b["history_default"] = false;
  EXPECT_EQ(DescribeBranchSettings(b),
            "branch agent-1: durability remote, expires never, history 2d");
}

TEST(RenderTest, SnapshotTable) {
  json list = json::array(
      {{{"name", "before-migration"}, {"branch", "main"}, {"seq", 77}, {"created", "t"}}});
  EXPECT_EQ(RenderSnapshotTable(list),
            "NAME              BRANCH  SEQ  CREATED\n"
            "before-migration  main     77  t\n");
}

// A GET /v1/status answer with a proxy, an API listener and a walsink.
json SampleStatus() {
  return {
      {"store", "file:///s"},
      {"mount", "/mnt/pg"},
      {"cache_dir", "/var/cache/strata/x"},
      {"pid", 4242},
      {"proxy", "127.0.0.1:55432"},
      {"api", "127.0.0.1:55433"},
      {"proxy_stats",
       {{"accepted", 9},
        {"active", 1},
        {"sessions", 7},
        {"auth_failures", 2},
        {"refused", 0},
        {"cancels", 0},
        {"protocol_errors", 0}}},
      {"branches", json::array({Branch("main", nullptr, 0, 10), FleetBranch("a1", "main", 5, 10)})},
      {"snapshots", 2},
      {"credentials", 3},
      {"endpoints_running", 1},
      {"memtable_bytes", 1024},
      {"layer_count", 3},
      {"layer_bytes", 3145728},
      {"store_bytes", 4194304},
      {"oplog_bytes", 512},
      {"oplog_segments", 1},
      {"walsink",
       {{"server", "10.0.0.5:7000"},
        {"tls", true},
        {"connected", true},
        {"unacked_bytes", 4096},
        {"reconnects", 1},
        {"last_error", ""}}}};
}

TEST(RenderTest, Status) {
  json st = SampleStatus();
  EXPECT_EQ(RenderStatus(st),
            "store:        file:///s\n"
            "mount:        /mnt/pg\n"
            "cache dir:    /var/cache/strata/x\n"
            "daemon pid:   4242\n"
            "proxy:        127.0.0.1:55432, 1 active connections, 7 sessions, 2 auth failures, 0 "
            "refused\n"
            "api:          127.0.0.1:55433 (bearer token), /var/cache/strata/x/control.sock\n"
            "op log:       512 B in 1 segment\n"
            "memtable:     1.0 KiB\n"
            "layers:       3 (3.0 MiB)\n"
            "store size:   4.0 MiB\n"
            "history:      -\n"
            "snapshots:    2\n"
            "credentials:  3\n"
            "endpoints:    1 running\n"
            "walsink:      10.0.0.5:7000 (TLS), connected, 4.0 KiB unacknowledged, 1 reconnects\n"
            "fuse:         -\n"
            "cpu:          -\n"
            "gc:           -\n"
            "\n"
            "NAME  PARENT  FORK_SEQ  SEQ  TIER    ACKED_SEQ  DURABLE_SEQ  LAG  MEMTABLE  LAYERS  "
            "LAYER_BYTES  STATE    OWNER   EXPIRES\n"
            "main  -              -   10  remote          9            5    4   2.0 KiB       3  "
            "   12.3 MiB  -        -       -\n"
            "a1    main           5   10  remote          9            5    4   2.0 KiB       3  "
            "   12.3 MiB  running  team-a  2024-05-02T12:00:00.000Z\n");
  st["proxy_stats"]["tls"] = {{"certificate", "/var/cache/strata/x/proxy-tls.crt"},
                              {"fingerprint_sha256", "AB:CD"},
                              {"self_signed", true},
                              {"required", false}};
  EXPECT_NE(RenderStatus(st).find("refused\nproxy tls:    offered, "
                                  "/var/cache/strata/x/proxy-tls.crt (self-signed), SHA-256 "
                                  "AB:CD\napi:"),
            std::string::npos)
      << RenderStatus(st);
  st["proxy"] = nullptr;
  st["api"] = nullptr;
  std::string off = RenderStatus(st);
  EXPECT_NE(off.find("proxy:        off\n"), std::string::npos) << off;
  EXPECT_NE(off.find("api:          /var/cache/strata/x/control.sock only\n"), std::string::npos)
      << off;
  st["walsink"] = {{"server", "10.0.0.5:7000"}, {"tls", false},
                   {"connected", false},        {"unacked_bytes", 0},
                   {"reconnects", 3},           {"last_error", "connection refused"}};
  EXPECT_NE(RenderStatus(st).find(
                "walsink:      10.0.0.5:7000 (plaintext), NOT CONNECTED, 0 B unacknowledged, "
                "3 reconnects (last error: connection refused)\n"),
            std::string::npos)
      << RenderStatus(st);
  st["walsink"] = nullptr;
  EXPECT_NE(RenderStatus(st).find("walsink:      none (op log on this machine only)\n"),
            std::string::npos);
  EXPECT_EQ(RenderStatus(st).find("store log:"), std::string::npos);
  st["store_log"] = {{"objects_written", 12},
                     {"bytes_written", 4096},
                     {"rounds", 10},
                     {"objects_deleted", 9},
                     {"fences", 1},
                     {"unacked_bytes", 0},
                     {"last_error", "fault injection: store unreachable"}};
  EXPECT_NE(RenderStatus(st).find("walsink:      none (--sink store)\n"
                                  "store log:    12 log objects written (4.0 KiB) in 10 rounds, 9 "
                                  "deleted, 1 fences, 0 B unacknowledged (last error: fault "
                                  "injection: store unreachable)\n"),
            std::string::npos)
      << RenderStatus(st);
}

TEST(RenderTest, StatusFuseAndCpu) {
  json st = SampleStatus();
  auto op = [](int count, int p50, int p99) {
    return json{{"count", count}, {"errors", 0}, {"p50_us", p50}, {"p99_us", p99}};
  };
  st["fuse"] = {{"requests", 1500},
                {"ops",
                 {{"write", op(700, 25, 1000)},
                  {"fsync", op(300, 250, 2500)},
                  {"getattr", op(400, 5, 10)},
                  {"lookup", op(60, 5, 25)},
                  {"read", op(40, 10, 50)}}}};
  st["cpu"] = {{"total_seconds", 12.34},
               {"threads", {{"strata-fuse", 8.1}, {"strata-flush", 0.45}, {"postgres", 0.0}}}};
  const std::string out = RenderStatus(st);
  EXPECT_NE(out.find("fuse:         1500 requests; write 700 (p50 25 us, p99 1000 us), getattr 400 "
                     "(p50 5 us, p99 10 us), fsync 300 (p50 250 us, p99 2500 us), lookup 60 (p50 5 "
                     "us, p99 25 us)\n"),
            std::string::npos)
      << out;
  EXPECT_NE(
      out.find("cpu:          12.3 s; strata-fuse 8.1 s, strata-flush 450 ms, postgres 0 ms\n"),
      std::string::npos)
      << out;
}

TEST(RenderTest, StatusHistoryAndGc) {
  json st = json::parse(R"({
    "store_bytes": 1288490189, "history_default_seconds": 3600,
    "gc": {"enabled": true, "interval_ms": 60000, "rate_bytes_per_second": 67108864,
           "passes": 12, "freed_bytes_total": 1288490189,
           "running": {"branch": "main", "done": 3, "total": 12},
           "last_pass": {"branches": 12, "layers_before": 48, "layers_after": 12,
                         "bytes_before": 1288490189, "bytes_after": 1162936320,
                         "freed_bytes": 126353408, "rewritten_bytes": 52428800,
                         "deleted_layers": 40, "written_layers": 4,
                         "leaked_objects_deleted": 0, "elapsed_ms": 3240,
                         "finished": "2026-12-04T12:00:00Z"}}})");
  std::string out = RenderStatus(st);
  EXPECT_NE(out.find("store size:   1.2 GiB\nhistory:      1h by default\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find("gc:           on, every 1m, at most 64.0 MiB/s; 12 passes, 1.2 GiB freed; "
                     "running: 3/12 branches (main)\n"
                     "last gc:      2026-12-04T12:00:00Z: freed 120.5 MiB in 3.2 s (layers 48 -> "
                     "12, store 1.2 GiB -> 1.1 GiB)\n"),
            std::string::npos)
      << out;
}

TEST(RenderTest, StatusToleratesMissingFields) {
  std::string out = RenderStatus(json::object());
  EXPECT_NE(out.find("daemon pid:   -\n"), std::string::npos) << out;
  EXPECT_NE(out.find("proxy:        off\n"), std::string::npos) << out;
  EXPECT_NE(out.find("NAME  PARENT"), std::string::npos);
}

TEST(RenderTest, StatusShowsEveryCacheTier) {
  json st = {{"cache",
              {{"l1", {{"hits", 5}, {"misses", 2}, {"bytes", 8192}, {"capacity", 1048576}}},
               {"l2", nullptr},
               {"l3",
                {{"reads", 7},
                 {"read_bytes", 2048},
                 {"writes", 1},
                 {"write_bytes", 1024},
                 {"retries", 3},
                 {"errors", 0}}}}}};
  std::string out = RenderStatus(st);
  EXPECT_NE(out.find("L1 cache:     5 hits, 2 misses, 8.0 KiB of 1.0 MiB\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find("L2 cache:     off\n"), std::string::npos) << out;
  EXPECT_NE(out.find("L3 store:     7 reads (2.0 KiB), 1 writes (1.0 KiB), 3 retries, 0 errors\n"),
            std::string::npos)
      << out;
  st["cache"]["l2"] = {
      {"hits", 9}, {"misses", 4}, {"bytes", 4096}, {"capacity", 1 << 30}, {"fetched_bytes", 512}};
  out = RenderStatus(st);
  EXPECT_NE(out.find("L2 cache:     9 hits, 4 misses, 4.0 KiB of 1.0 GiB, 512 B fetched\n"),
            std::string::npos)
      << out;
}

TEST(RenderTest, Confirmations) {
  json child = Branch("agent-1", "main", 100, 100);
  child["elapsed_us"] = 1234;
  EXPECT_EQ(DescribeBranchCreated(child), "created branch agent-1 from main@seq:100 in 1.234 ms");
  EXPECT_EQ(DescribeBranchCreated(Branch("main", nullptr, 0, 0)), "created root branch main");
  EXPECT_EQ(DescribeBranchCreated(FleetBranch("main", nullptr, 0, 0)),
            "created root branch main for owner team-a, expires at 2024-05-02T12:00:00.000Z");
  json fleet_child = FleetBranch("agent-1", "main", 100, 100);
  fleet_child["elapsed_us"] = 1234;
  EXPECT_EQ(DescribeBranchCreated(fleet_child),
            "created branch agent-1 from main@seq:100 in 1.234 ms for owner team-a, expires at "
            "2024-05-02T12:00:00.000Z");
  EXPECT_EQ(DescribeBranchReset(Branch("agent-1", "main", 150, 150)),
            "reset branch agent-1 to main@seq:150");
  json snap = {{"name", "s1"}, {"branch", "main"}, {"seq", 9}, {"elapsed_us", 80}};
  EXPECT_EQ(DescribeSnapshotCreated(snap), "created snapshot s1 of main at seq 9 in 0.080 ms");
  json detached = SpaceBranch();
  EXPECT_EQ(DescribeBranchDetached(detached), "detached branch agent-1 from main");
  detached["copied_bytes"] = 5242880;
  detached["elapsed_us"] = 2500000;
  EXPECT_EQ(DescribeBranchDetached(detached),
            "detached branch agent-1 from main (copied 5.0 MiB) in 2500.000 ms");
  EXPECT_EQ(DescribeBranchDetached(Branch("x", nullptr, 0, 0)), "detached branch x");
}

TEST(RenderTest, RestoreAndPromoteConfirmations) {
  json main = Branch("main", nullptr, 0, 0);
  main["elapsed_us"] = 1500;
  EXPECT_EQ(DescribeBranchRestored(main, "@seq:42", "before"),
            "restored branch main to @seq:42 (old state kept as before) in 1.500 ms");
  EXPECT_EQ(DescribeBranchRestored(Branch("main", nullptr, 0, 0), "@snap", ""),
            "restored branch main to @snap (old state retired)");
  EXPECT_EQ(DescribeBranchPromoted(main, "agent-1", ""),
            "promoted agent-1 into main (old state retired) in 1.500 ms");
  EXPECT_EQ(DescribeBranchPromoted(Branch("main", "old", 3, 3), "agent-1", "old"),
            "promoted agent-1 into main (old state kept as old)");
}

}  // namespace
}  // namespace strata::cli
