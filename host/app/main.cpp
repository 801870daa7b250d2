// dorahost — the RPC application server. See README.md and docs/.
#include "app/BuildInfo.h"
#include "app/Logging.h"
#include "app/Server.h"
#include "config/Config.h"
#include "net/Tls.h"
#include "plugins/Plugin.h"

#include <Poco/Logger.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <thread>
#include <cstring>
#include <iostream>
#include <pthread.h>
#include <string>

namespace {

void usage(std::ostream& o) {
    o << "usage: dorahost [--config FILE] [--check-config] [--version]\n"
         "  --config FILE    host config (default " << dora::app::kDefaultConfig << ")\n"
         "  --check-config   validate the config and every route file, load every plugin,\n"
         "                   print each problem, exit non-zero on any\n"
         "Environment overrides (DORAHOST_TCP, DORAHOST_MYSQL_*, ...): see docs/config.md\n";
}


int checkConfig(const dora::config::Config& cfg) {
    dora::stats::Stats stats;
    dora::plugins::PluginLoader loader(cfg.plugins.pluginsDir, cfg.plugins.routesDir, stats);
    auto report = loader.load();
    // Each plugin's options: the value in force, where it came from, the help.
    for (const auto& p : report.table->plugins()) {
        for (const auto& [name, o] : p->host().options)
            std::cout << "option " << p->name() << "." << name << " = " << o.shown << " ("
                      << (o.line ? "line " + std::to_string(o.line) : std::string("default")) << "): " << o.help
                      << "\n";
    }
    if (cfg.server.tls.enabled()) {
        // The files the start would read, read the same way.
        try {
            dora::net::TlsServerContext tls({cfg.server.tls.cert, cfg.server.tls.key, cfg.server.tls.clientCa});
        } catch (const std::exception& e) {
            report.errors.push_back(e.what());
        }
    }
    for (const auto& e : report.errors) std::cout << e << "\n";
    if (!report.errors.empty()) {
        std::cout << report.errors.size() << " problem(s) found\n";
        return 1;
    }
    std::cout << cfg.file << ": OK (" << report.table->size() << " routes from "
              << report.table->plugins().size() << " plugins)\n";
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    std::string configPath = dora::app::kDefaultConfig;
    bool check = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--config" && i + 1 < argc) {
            configPath = argv[++i];
        } else if (a.rfind("--config=", 0) == 0) {
            configPath = a.substr(9);
        } else if (a == "--check-config") {
            check = true;
        } else if (a == "--version") {
            std::cout << "dorahost " << dora::app::kVersion << "\n";
            return 0;
        } else if (a == "--help" || a == "-h") {
            usage(std::cout);
            return 0;
        } else {
            std::cerr << "dorahost: unknown argument '" << a << "'\n";
            usage(std::cerr);
            return 2;
        }
    }

    dora::config::Config cfg;
    try {
        cfg = dora::config::loadConfig(configPath, dora::config::processEnvironment());
    } catch (const std::exception& e) {
        std::cerr << "dorahost: " << e.what() << "\n";
        return 2;
    }
    dora::app::setupLogging(check ? std::string("warning") : cfg.server.logLevel, cfg.server.logFormat);
    if (check) return checkConfig(cfg);

    // Signals are taken synchronously by main; every other thread blocks them.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    auto& log = Poco::Logger::get("dorahost");
    try {
        dora::app::Server server(cfg);
        server.start();
        for (;;) {
            int sig = 0;
            sigwait(&set, &sig);
            if (sig == SIGHUP) {
                log.information("SIGHUP: reloading plugins and routes");
                server.reload();
                continue;
            }
            log.information("signal %d (%s): draining, then stopping", sig, std::string(strsignal(sig)));
            break;
        }
        const auto started = std::chrono::steady_clock::now();
        // The promise to systemd and the operator: gone within the timeout,
        // even if a handler never returns (then the calls it holds are lost
        // to their clients, which see the connection close).
        const int limitSec = cfg.server.shutdownTimeoutSec;
        std::thread([limitSec, started] {
            std::this_thread::sleep_until(started + std::chrono::seconds(limitSec));
            Poco::Logger::get("dorahost").error(
                "still stopping %d s after the signal (server.shutdown_timeout_sec): exiting now",
                limitSec);
            std::_Exit(1);
        }).detach();
        const bool clean = server.drain(started);
        server.stop();
        return clean ? 0 : 1;
    } catch (const std::exception& e) {
        log.fatal(std::string("cannot run: ") + e.what());
        return 1;
    }
}
