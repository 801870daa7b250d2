// plugins/Plugin.h — a loaded controller plugin and the route table built
// from the route files. A Route keeps its plugin alive: the library is
// shut down and dlclose'd only when the last route (and so the last call
// in flight) lets go of it.
#pragma once

#include "config/RouteFile.h"
#include "plugins/PluginMetrics.h"
#include "stats/Stats.h"

#include <dora/sdk/abi.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace dora::pools {
class RedisPool;
}

/// What the host keeps for one loaded plugin on the plugin's side of the
/// boundary (the handle its init and handlers pass back). Filled during
/// init (one thread); read-only afterwards, so handlers read it without a
/// lock.
struct dora_host {
    std::string pluginName;
    /// One declared option (SDK 1.2 register_option).
    struct Option {
        std::int32_t type = 0;
        std::string value;  ///< PHP-serialized: what option_get hands out
        std::string shown;  ///< as --check-config prints it
        std::string help;
        int line = 0;       ///< the route file's line, 0 = the default
    };
    std::map<std::string, Option, std::less<>> options;
    /// During init only: the route file's options, and what was wrong.
    const dora::config::RouteFile* routeFile = nullptr;
    std::vector<std::string> optionErrors;
    std::vector<std::unique_ptr<dora_metric>> metrics;
    dora::pools::RedisPool* redis = nullptr; ///< the handler Redis pool; may be null
};

namespace dora::plugins {

/// What the host lends to plugins besides MySQL (which comes per worker).
struct HostServices {
    pools::RedisPool* redis = nullptr;
};

struct Handler {
    dora_handler_fn fn = nullptr;
    dora_batch_handler_fn batch = nullptr;
    void* user = nullptr;
};

class LoadedPlugin {
public:
    /// memfd: the descriptor of the private copy dl was loaded from.
    LoadedPlugin(std::string file, void* dl, const dora_plugin_info* info, int memfd);
    ~LoadedPlugin(); ///< calls the plugin's shutdown, then dlclose
    LoadedPlugin(const LoadedPlugin&) = delete;
    LoadedPlugin& operator=(const LoadedPlugin&) = delete;

    const std::string& file() const { return _file; }
    std::string name() const;
    std::string version() const;
    unsigned abiMajor() const { return _info->abi_major; }
    unsigned abiMinor() const { return _info->abi_minor; }
    const Handler* handler(std::string_view name) const;
    /// The plugin's handle: options, metrics, Redis pool.
    const dora_host& host() const { return _host; }
    dora_host& host() { return _host; }
    /// Its metrics now (a copy; any thread).
    std::vector<MetricSnapshot> metrics() const {
        std::vector<MetricSnapshot> out;
        for (const auto& m : _host.metrics) out.push_back(snapshot(*m));
        return out;
    }
    /// Registration, only while init runs (through the registrar). False
    /// if the name is taken.
    bool addHandler(std::string name, Handler h) { return _handlers.emplace(std::move(name), h).second; }

private:
    friend class PluginLoader;
    std::string _file;
    void* _dl;
    const dora_plugin_info* _info;
    int _memfd;
    void* _state = nullptr;
    bool _initialised = false;
    dora_host _host;
    std::unordered_map<std::string, Handler> _handlers;
};

struct Route {
    config::RouteSpec spec;
    Handler handler;
    std::shared_ptr<LoadedPlugin> plugin;
    std::string routeFile;
    std::shared_ptr<stats::RouteCounter> counter; ///< outlives reloads
    mutable std::atomic<int> running{0};     ///< calls executing now (max_concurrency)
};

/// An immutable api → route map; swapped whole on reload. One api name
/// may have a sync route and an async route from different plugins (the
/// seed's clients call the same names both ways); `mode: any` fills both.
class RouteTable {
public:
    /// The route serving `api` when called synchronously (wait and
    /// push-result modes) or through the async queue (no-result modes).
    const Route* find(const std::string& api, bool async) const {
        const auto& m = async ? _async : _sync;
        auto it = m.find(api);
        return it == m.end() ? nullptr : it->second;
    }
    const Route* find(std::string_view api, bool async) const { return find(std::string(api), async); }
    std::size_t size() const { return _all.size(); }
    const std::vector<std::unique_ptr<Route>>& all() const { return _all; }
    const std::vector<std::shared_ptr<LoadedPlugin>>& plugins() const { return _plugins; }

    /// Adds a route on the side(s) its spec.mode serves, replacing what
    /// served the api there; for a table built by hand (unit tests of the
    /// runner). Only before the table is shared: not thread-safe.
    const Route& add(std::unique_ptr<Route> route) {
        Route& r = *route;
        if (r.spec.mode != config::RouteMode::Queued) _sync[r.spec.api] = &r;
        if (r.spec.mode != config::RouteMode::InProcess) _async[r.spec.api] = &r;
        _all.push_back(std::move(route));
        return r;
    }

private:
    friend class PluginLoader;
    std::vector<std::unique_ptr<Route>> _all;
    std::unordered_map<std::string, const Route*> _sync;
    std::unordered_map<std::string, const Route*> _async;
    std::vector<std::shared_ptr<LoadedPlugin>> _plugins;
};

/// The result of scanning the plugin and route folders.
struct LoadReport {
    std::shared_ptr<const RouteTable> table;
    std::vector<std::string> errors; ///< one sentence each, naming the file
};

/// Reads every route file, loads each plugin library once, checks its ABI,
/// runs its init and matches routes to handlers. A problem with one file
/// or plugin is reported and skips only that plugin.
class PluginLoader {
public:
    PluginLoader(std::string pluginsDir, std::string routesDir, stats::Stats& stats,
                 HostServices services = {});
    LoadReport load() const;

    /// Loads one library: ABI check and init. Throws std::runtime_error
    /// with a sentence naming the file. With a route file, its options are
    /// checked against what init declared (every problem, file:line, in
    /// the exception's text).
    static std::shared_ptr<LoadedPlugin> loadLibrary(const std::string& path,
                                                     const config::RouteFile* routes = nullptr,
                                                     HostServices services = {});

private:
    std::string _pluginsDir;
    std::string _routesDir;
    stats::Stats& _stats;
    HostServices _services;
};

} // namespace dora::plugins
