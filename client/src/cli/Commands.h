// cli/Commands.h — the `dora` client commands: call, multi, stat, reload, task, dead.
// Each returns the process exit status (0 ok, 1 the call failed or no
// server answered) and throws UsageError on bad usage.
#pragma once

#include "cli/Args.h"

namespace dora::cli {

int runCall(ArgList& args);
int runMulti(ArgList& args);
int runStat(ArgList& args);
int runReload(ArgList& args);
int runTask(ArgList& args);   ///< dora task GUID
int runDead(ArgList& args);   ///< dora dead list|show|redrive|purge
int runTop(ArgList& args);    ///< dora top (cli/Top.cpp)

/// Prints "dora: <what>" to stderr as the one-line reason.
void printError(const std::string& what);

} // namespace dora::cli
