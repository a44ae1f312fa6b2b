#!/usr/bin/env bash
# cluster_failover_store: cluster_failover.sh with the op log's durable copy
# in the store itself (--sink store; docs/cluster.md, "Failover"): the kill
# -9 failover with pgbench and the ledger, and the SIGSTOP fencing, with
# fence objects in place of the walsink's fence.
FAILOVER_SINK=store exec bash "$(dirname "$0")/cluster_failover.sh"
