// FastRecovery: how the daemon starts a server whose cluster needs crash
// recovery (a fork of a running server, or a server that died), so that it
// accepts connections sooner (docs/postgres.md, "Forks of running servers").
//
// Contract:
// - Nothing is changed for a cluster that was shut down cleanly, or for a
//   cluster holding a standby.signal or recovery.signal of its own.
// - Short redo (the segment of the last checkpoint's redo pointer is the
//   last in pg_wal that holds WAL, so less than one WAL segment is
//   replayed: the fork of a server the daemon just checkpointed): plain
//   crash recovery. Its
//   end-of-recovery checkpoint writes back at most what that redo dirtied.
// - Long redo, PostgreSQL 12-15: the server replays the same WAL as crash
//   recovery would, to the end of pg_wal, but as a standby that is promoted
//   at once: the daemon writes standby.signal (with kFastRecoveryMark in it)
//   and the trigger file kPromoteFile, and starts the server with
//   hot_standby=off (no session before the promotion) and
//   promote_trigger_file. A promoted standby writes an end-of-recovery WAL
//   record and leaves the checkpoint to the checkpointer, spread, instead of
//   an immediate end-of-recovery checkpoint before it accepts connections;
//   it moves to a new timeline, which copies the last WAL segment. The state
//   it opens with is the one crash recovery would reach. (PostgreSQL 16
//   removed promote_trigger_file: there a long redo is plain crash recovery.)
// - A start cut short before the promotion leaves our standby.signal (its
//   mark says so): the next start prepares the same again.
// - `first_start` (the daemon never ran this branch's server, so no page of
//   a dead server of it can be dirty in the kernel's cache) adds
//   recovery_init_sync_method=syncfs (PostgreSQL 14+) to either kind: the
//   fork point is already durable in strata, and fsyncing each file of
//   PGDATA one by one (what `fsync` does) is pure cost there.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace strata {

inline constexpr std::string_view kFastRecoveryMark = "strata: fast recovery, promoted at once\n";
inline constexpr std::string_view kPromoteFile = "strata.promote";

// Files in a PGDATA the daemon reads and writes itself (here and for the
// template, endpoint/db_template.h). ReadPgdataFile: at most `max` bytes;
// kNotFound if absent. WritePgdataFile: creates or truncates, fsyncs, and
// gives the file to the owner of directory `owner_of` (when we are root).
Result<std::string> ReadPgdataFile(const std::string& path, size_t max);
Status WritePgdataFile(const std::string& path, std::string_view data, const std::string& owner_of);

// The state field of a pg_control file's bytes (1: shut down); nullopt if too short.
std::optional<uint32_t> PgControlState(std::string_view pg_control);
// Whether that state is "shut down" (or "shut down in recovery"): nothing
// the cluster committed lives in its WAL only.
bool PgControlSaysShutDown(std::string_view pg_control);

// How a server's start recovers (see the contract above).
struct RecoveryPlan {
  enum class Kind { kNone, kCrashRecovery, kPromote };
  Kind kind = Kind::kNone;
  std::vector<std::pair<std::string, std::string>> settings;  // to add to this start
  std::string reason;                                         // for the log: why this kind
};

// The redo pointer of the last checkpoint in a pg_control file's bytes
// (ControlFileData.checkPointCopy.redo); nullopt if too short.
std::optional<uint64_t> PgControlRedo(std::string_view pg_control);

// Whether no transaction can have ended between two pg_control files of one
// cluster, `then` (any state) and `now` (the state must be "shut down", so
// its next xid is exact), of PostgreSQL 12-15 (`major`; the layout of
// checkPointCopy checked there): no xid was assigned after then's
// checkpoint (checkPointCopy.nextXid equal) and none was running at it
// (oldestActiveXid unset or equal to nextXid). A data change needs an xid,
// so pages written in between without one are hint bits, pruning or
// vacuum. False when unsure.
bool PgControlNoTransactionBetween(std::string_view then, std::string_view now, int major);

// True if crash recovery of `data_dir` replays less than one WAL segment:
// the segment holding the redo pointer is in pg_wal, and no segment after it
// holds WAL (segments made ahead of need, or recycled, do not). False when
// unsure (no segments, odd sizes).
Result<bool> RedoWithinLastSegment(const std::string& data_dir, uint64_t redo);

// Prepares `data_dir` as above. Files it writes belong to the owner of data_dir.
Result<RecoveryPlan> PrepareFastRecovery(const std::string& data_dir, bool first_start);

}  // namespace strata
