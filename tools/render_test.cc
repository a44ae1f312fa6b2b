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
          {"layer_bytes", 12897485}};
}

TEST(RenderTest, Cells) {
  json o = {{"s", "x"}, {"n", 42}, {"z", nullptr}, {"big", 18446744073709551615ULL}};
  EXPECT_EQ(Cell(o, "s"), "x");
  EXPECT_EQ(Cell(o, "n"), "42");
  EXPECT_EQ(Cell(o, "z"), "-");
  EXPECT_EQ(Cell(o, "missing"), "-");
  EXPECT_EQ(Cell(o, "big"), "18446744073709551615");
  EXPECT_EQ(Cell(json("not an object"), "s"), "-");
  EXPECT_EQ(SizeCell(o, "n"), "42 B");
  EXPECT_EQ(SizeCell(o, "s"), "-");
}

TEST(RenderTest, BranchTable) {
  json list = json::array({Branch("main", nullptr, 0, 120), Branch("agent-1", "main", 100, 130)});
  EXPECT_EQ(RenderBranchTable(list),
            "NAME     PARENT  FORK_SEQ  SEQ  DURABLE_SEQ  DURABILITY  CREATED\n"
            "main     -              -  120           60  remote      2024-05-01T12:00:00Z\n"
            "agent-1  main         100  130           65  remote      2024-05-01T12:00:00Z\n");
  EXPECT_EQ(RenderBranchTable(json::array()),
            "NAME  PARENT  FORK_SEQ  SEQ  DURABLE_SEQ  DURABILITY  CREATED\n");
}

TEST(RenderTest, SnapshotTable) {
  json list = json::array(
      {{{"name", "before-migration"}, {"branch", "main"}, {"seq", 77}, {"created", "t"}}});
  EXPECT_EQ(RenderSnapshotTable(list),
            "NAME              BRANCH  SEQ  CREATED\n"
            "before-migration  main     77  t\n");
}

TEST(RenderTest, Status) {
  json st = {{"store", "file:///s"},
             {"mount", "/mnt/pg"},
             {"cache_dir", "/var/cache/strata/x"},
             {"pid", 4242},
             {"branches", json::array({Branch("main", nullptr, 0, 10)})},
             {"snapshots", 2},
             {"memtable_bytes", 1024},
             {"layer_count", 3},
             {"layer_bytes", 3145728},
             {"store_bytes", 4194304},
             {"oplog_bytes", 512},
             {"oplog_segments", 1},
             {"walsink",
              {{"server", "10.0.0.5:7000"},
               {"connected", true},
               {"unacked_bytes", 4096},
               {"reconnects", 1},
               {"last_error", ""}}}};
  EXPECT_EQ(RenderStatus(st),
            "store:       file:///s\n"
            "mount:       /mnt/pg\n"
            "cache dir:   /var/cache/strata/x\n"
            "daemon pid:  4242\n"
            "op log:      512 B in 1 segment\n"
            "memtable:    1.0 KiB\n"
            "layers:      3 (3.0 MiB)\n"
            "store size:  4.0 MiB\n"
            "snapshots:   2\n"
            "walsink:     10.0.0.5:7000, connected, 4.0 KiB unacknowledged, 1 reconnects\n"
            "\n"
            "NAME  PARENT  FORK_SEQ  SEQ  TIER    ACKED_SEQ  DURABLE_SEQ  LAG  MEMTABLE  LAYERS  "
            "LAYER_BYTES\n"
            "main  -              -   10  remote          9            5    4   2.0 KiB       3  "
            "   12.3 MiB\n");
  st["walsink"] = {{"server", "10.0.0.5:7000"},
                   {"connected", false},
                   {"unacked_bytes", 0},
                   {"reconnects", 3},
                   {"last_error", "connection refused"}};
  EXPECT_NE(RenderStatus(st).find("walsink:     10.0.0.5:7000, NOT CONNECTED, 0 B unacknowledged, "
                                  "3 reconnects (last error: connection refused)\n"),
            std::string::npos)
      << RenderStatus(st);
  st["walsink"] = nullptr;
  EXPECT_NE(RenderStatus(st).find("walsink:     none (op log on this machine only)\n"),
            std::string::npos);
}

TEST(RenderTest, StatusToleratesMissingFields) {
  std::string out = RenderStatus(json::object());
  EXPECT_NE(out.find("daemon pid:  -\n"), std::string::npos);
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
  EXPECT_NE(out.find("L1 cache:    5 hits, 2 misses, 8.0 KiB of 1.0 MiB\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find("L2 cache:    off\n"), std::string::npos) << out;
  EXPECT_NE(out.find("L3 store:    7 reads (2.0 KiB), 1 writes (1.0 KiB), 3 retries, 0 errors\n"),
            std::string::npos)
      << out;
  st["cache"]["l2"] = {
      {"hits", 9}, {"misses", 4}, {"bytes", 4096}, {"capacity", 1 << 30}, {"fetched_bytes", 512}};
  out = RenderStatus(st);
  EXPECT_NE(out.find("L2 cache:    9 hits, 4 misses, 4.0 KiB of 1.0 GiB, 512 B fetched\n"),
            std::string::npos)
      << out;
}

TEST(RenderTest, Confirmations) {
  json child = Branch("agent-1", "main", 100, 100);
  child["elapsed_us"] = 1234;
  EXPECT_EQ(DescribeBranchCreated(child), "created branch agent-1 from main@seq:100 in 1.234 ms");
  EXPECT_EQ(DescribeBranchCreated(Branch("main", nullptr, 0, 0)), "created root branch main");
  EXPECT_EQ(DescribeBranchReset(Branch("agent-1", "main", 150, 150)),
            "reset branch agent-1 to main@seq:150");
  json snap = {{"name", "s1"}, {"branch", "main"}, {"seq", 9}, {"elapsed_us", 80}};
  EXPECT_EQ(DescribeSnapshotCreated(snap), "created snapshot s1 of main at seq 9 in 0.080 ms");
}

}  // namespace
}  // namespace strata::cli
