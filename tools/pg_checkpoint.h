// An optional CHECKPOINT of the parent's running PostgreSQL server before a
// branch is forked from it, so the child's crash recovery replays little WAL.
#pragma once

#include <string>

#include "common/status.h"

namespace strata::cli {

// Connects with the libpq conninfo string (or URI) and runs CHECKPOINT. The
// connection attempt gives up after 10 s unless the conninfo says otherwise.
// kUnavailable with libpq's message on any failure.
Status CheckpointServer(const std::string& conninfo);

}  // namespace strata::cli
