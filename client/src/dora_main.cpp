// dora — the command-line client of dorahost: call, multi, stat, reload
// and the bench load generator (DESIGN.md "Command line").
#include "cli/Args.h"
#include "cli/Bench.h"
#include "cli/Commands.h"

#include <iostream>
#include <string>
#include <vector>

namespace {

const char* const kUsage =
    "usage: dora COMMAND [ARGS] [client options]\n"
    "\n"
    "Calls a dorahost (or any DoraRPC server) over the Dora protocol.\n"
    "\n"
    "commands:\n"
    "  call API [JSON]      one call; prints the result as JSON (--async: no result)\n"
    "  multi JSON           several calls {\"key\": {\"name\": API, \"param\": ..}, ..}\n"
    "  stat                 the server's counters (getStat)\n"
    "  reload               reload plugins and routes (reloadTask)\n"
    "  task GUID            what became of an async request (taskStatus)\n"
    "  dead list|show|redrive|purge   the dead-letter stream\n"
    "  top                  live view: requests/s, p99, errors per route, queue, pool\n"
    "  bench                load generator: the seed's test and more\n"
    "\n"
    "`dora COMMAND --help` describes each command.\n"
    "\n";

} // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
        std::cout << kUsage << dora::cli::kClientOptionsHelp;
        return args.empty() ? 2 : 0;
    }
    std::string command = args[0];
    dora::cli::ArgList rest(std::vector<std::string>(args.begin() + 1, args.end()));
    try {
        if (command == "call") return dora::cli::runCall(rest);
        if (command == "multi") return dora::cli::runMulti(rest);
        if (command == "stat") return dora::cli::runStat(rest);
        if (command == "reload") return dora::cli::runReload(rest);
        if (command == "task") return dora::cli::runTask(rest);
        if (command == "dead") return dora::cli::runDead(rest);
        if (command == "top") return dora::cli::runTop(rest);
        if (command == "bench") return dora::cli::runBench(rest);
        throw dora::cli::UsageError("unknown command '" + command + "'");
    } catch (const dora::cli::UsageError& e) {
        bool known = command == "call" || command == "multi" || command == "stat" ||
                     command == "reload" || command == "task" || command == "dead" ||
                     command == "top" || command == "bench";
        dora::cli::printError(std::string(e.what()) + " (see dora " +
                              (known ? command + " --help" : std::string("--help")) + ")");
        return 2;
    } catch (const std::exception& e) {
        dora::cli::printError(e.what());
        return 1;
    }
}
