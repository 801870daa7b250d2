// cli/Bench.h — `dora bench`: the load generator. One epoll thread drives
// every connection (it shares the machine with the server), with v2
// pipelining or v1/JSON back-to-back requests, live progress, a latency
// summary and an optional MySQL check that no acknowledged write was lost.
// The same loop drives the baselines bench/run.sh compares against: a
// Redis server with PING (--redis-ping) and MySQL autocommit INSERTs
// (--mysql-insert, the MariaDB C API's non-blocking calls).
#pragma once

#include "cli/Args.h"

namespace dora::cli {

/// Runs `dora bench ARGS`; returns the exit status (1 on any error or
/// lost write). Throws UsageError on bad usage.
int runBench(ArgList& args);

} // namespace dora::cli
