// plugins/Plugin.h — a loaded controller plugin and the route table built
// from the route files. A Route keeps its plugin alive: the library is
// shut down and dlclose'd only when the last route (and so the last call
// in flight) lets go of it.
#pragma once

#include "config/RouteFile.h"
#include "stats/Stats.h"

#include <dora/sdk/abi.h>

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

struct dora_host {
    std::string pluginName;
};

namespace dora::plugins {

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
    std::shared_ptr<stats::Counter> counter; ///< outlives reloads
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
    PluginLoader(std::string pluginsDir, std::string routesDir, stats::Stats& stats);
    LoadReport load() const;

    /// Loads one library: ABI check and init. Throws std::runtime_error
    /// with a sentence naming the file.
    static std::shared_ptr<LoadedPlugin> loadLibrary(const std::string& path);

private:
    std::string _pluginsDir;
    std::string _routesDir;
    stats::Stats& _stats;
};

} // namespace dora::plugins
