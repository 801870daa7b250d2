#include "plugins/HostApi.h"
#include "plugins/Plugin.h"

#include <Poco/Logger.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

namespace dora::plugins {

LoadedPlugin::LoadedPlugin(std::string file, void* dl, const dora_plugin_info* info, int memfd)
    : _file(std::move(file)), _dl(dl), _info(info), _memfd(memfd) {
    _host.pluginName = info && info->name ? info->name : "?";
}

LoadedPlugin::~LoadedPlugin() {
    if (_initialised && _info->shutdown) _info->shutdown(_state);
    if (_dl) dlclose(_dl);
    if (_memfd >= 0) ::close(_memfd);
    Poco::Logger::get("dorahost.plugins").information("unloaded plugin %s (%s)", _host.pluginName, _file);
}

std::string LoadedPlugin::name() const { return _info->name ? _info->name : ""; }
std::string LoadedPlugin::version() const { return _info->version ? _info->version : ""; }

const Handler* LoadedPlugin::handler(std::string_view n) const {
    auto it = _handlers.find(std::string(n));
    return it == _handlers.end() ? nullptr : &it->second;
}

PluginLoader::PluginLoader(std::string pluginsDir, std::string routesDir, stats::Stats& stats,
                           HostServices services)
    : _pluginsDir(std::move(pluginsDir)), _routesDir(std::move(routesDir)), _stats(stats),
      _services(services) {}

namespace {

/// A plugin whose route file's options do not match what it declared:
/// each problem with its own file:line.
struct OptionProblems : std::runtime_error {
    explicit OptionProblems(std::vector<std::string> p)
        : std::runtime_error(p.empty() ? std::string() : p.front()), problems(std::move(p)) {}
    std::vector<std::string> problems;
};

/// After init: keys in the file that no register_option declared.
void checkUnknownOptions(const dora_host& host, const config::RouteFile& rf, std::vector<std::string>& out) {
    for (const auto& o : rf.options) {
        if (host.options.count(o.name)) continue;
        std::string known;
        for (const auto& [name, opt] : host.options) known += (known.empty() ? "" : ", ") + name;
        out.push_back(rf.path + ":" + std::to_string(o.line) + ": unknown option '" + o.name + "' (plugin '" +
                      host.pluginName + "' " +
                      (known.empty() ? std::string("declares no options") : "takes: " + known) + ")");
    }
}

// dlopen caches by file identity, and a library overwritten in place under
// a running process corrupts it. Loading a private in-memory copy makes
// every load see the file as it is now, and lets the file change freely.
// The copy's descriptor stays open while the library is loaded: glibc
// recognises an already-loaded library by its path, so two live plugins
// must never share a /proc/self/fd/N name.
void* openPrivateCopy(const std::string& path, std::string& error, int& memfdOut) {
    memfdOut = -1;
    int src = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (src < 0) {
        error = std::strerror(errno);
        return nullptr;
    }
    int mem = ::memfd_create("dora-plugin", MFD_CLOEXEC);
    if (mem < 0) {
        error = std::string("memfd_create: ") + std::strerror(errno);
        ::close(src);
        return nullptr;
    }
    char buf[65536];
    ssize_t n;
    bool ok = true;
    while ((n = ::read(src, buf, sizeof buf)) > 0) {
        if (::write(mem, buf, static_cast<size_t>(n)) != n) {
            ok = false;
            break;
        }
    }
    if (n < 0) ok = false;
    ::close(src);
    if (!ok) {
        error = std::string("copying the library failed: ") + std::strerror(errno);
        ::close(mem);
        return nullptr;
    }
    std::string procPath = "/proc/self/fd/" + std::to_string(mem);
    void* dl = dlopen(procPath.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        const char* e = dlerror();
        error = e ? e : "dlopen failed";
        // dlerror names the /proc path; the caller names the real file.
        if (error.rfind(procPath + ": ", 0) == 0) error.erase(0, procPath.size() + 2);
        ::close(mem);
        return nullptr;
    }
    memfdOut = mem;
    return dl;
}

} // namespace

std::shared_ptr<LoadedPlugin> PluginLoader::loadLibrary(const std::string& path, const config::RouteFile* routes,
                                                       HostServices services) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        throw std::runtime_error("plugin library " + path + " does not exist");
    std::string err;
    int memfd = -1;
    void* dl = openPrivateCopy(path, err, memfd);
    auto closeAll = [&] {
        dlclose(dl);
        ::close(memfd);
    };
    if (!dl) throw std::runtime_error("plugin library " + path + " cannot be loaded: " + err);
    auto entry = reinterpret_cast<dora_plugin_entry_fn>(dlsym(dl, DORA_PLUGIN_ENTRY_SYMBOL));
    if (!entry) {
        closeAll();
        throw std::runtime_error("plugin library " + path + " is not a dorahost plugin: it exports no '" +
                                 DORA_PLUGIN_ENTRY_SYMBOL + "' entry point");
    }
    const dora_plugin_info* info = entry();
    if (!info || info->struct_size < offsetof(dora_plugin_info, shutdown) + sizeof(info->shutdown)) {
        closeAll();
        throw std::runtime_error("plugin library " + path + " returned no valid plugin description");
    }
    // The ABI check comes before anything else in the plugin runs.
    std::string built = std::to_string(info->abi_major) + "." + std::to_string(info->abi_minor);
    std::string ours = std::to_string(DORA_ABI_MAJOR) + "." + std::to_string(DORA_ABI_MINOR);
    if (info->abi_major != DORA_ABI_MAJOR || info->abi_minor > DORA_ABI_MINOR) {
        // Everything read from info before the library is closed.
        std::string why = "plugin library " + path + " is not binary compatible: it was built for plugin ABI " +
                          built + " and this host provides ABI " + ours;
        if (info->abi_major == DORA_ABI_MAJOR)
            why += "; rebuild it against SDK " + ours + ", or build it with DORA_PLUGIN_MIN_ABI_MINOR " +
                   std::to_string(DORA_ABI_MINOR) + " and probe newer functions";
        closeAll();
        throw std::runtime_error(why);
    }
    auto plugin = std::make_shared<LoadedPlugin>(path, dl, info, memfd);
    if (!info->name || !*info->name || !info->init)
        throw std::runtime_error("plugin library " + path + " has no name or no init function");
    dora_registrar reg;
    reg.plugin = plugin.get();
    plugin->_host.routeFile = routes;
    plugin->_host.redis = services.redis;
    const char* why = nullptr;
    int32_t rc = DORA_ERR_INTERNAL;
    rc = info->init(hostApi(), &plugin->_host, &reg, &plugin->_state, &why);
    reg.open = false;
    plugin->_host.routeFile = nullptr;
    if (rc != DORA_OK) {
        // init failed: shutdown is not called, the library is closed.
        throw std::runtime_error("plugin library " + path + " refused to start: init returned " +
                                 std::to_string(rc) + (why ? std::string(" (") + why + ")" : std::string()));
    }
    plugin->_initialised = true;
    std::vector<std::string> problems = std::move(plugin->_host.optionErrors);
    plugin->_host.optionErrors.clear();
    if (routes) checkUnknownOptions(plugin->_host, *routes, problems);
    if (!problems.empty()) throw OptionProblems(std::move(problems)); // shuts the plugin down
    return plugin;
}

LoadReport PluginLoader::load() const {
    LoadReport report;
    auto table = std::make_shared<RouteTable>();
    auto& log = Poco::Logger::get("dorahost.plugins");
    config::RouteDirResult dir = config::loadRoutesDir(_routesDir);
    report.errors = dir.errors;
    // (api, async?) -> the route file that serves it
    std::map<std::pair<std::string, bool>, std::string> apiOwner;
    auto sides = [](config::RouteMode m) {
        std::vector<bool> v;
        if (m != config::RouteMode::Queued) v.push_back(false);
        if (m != config::RouteMode::InProcess) v.push_back(true);
        return v;
    };
    for (const auto& rf : dir.files) {
        std::string lib = _pluginsDir + "/" + rf.library;
        std::shared_ptr<LoadedPlugin> plugin;
        try {
            plugin = loadLibrary(lib, &rf, _services);
        } catch (const OptionProblems& e) {
            for (const auto& p : e.problems) report.errors.push_back(p + "; plugin '" + rf.plugin + "' not loaded");
            continue;
        } catch (const std::exception& e) {
            report.errors.push_back(rf.path + ":" + std::to_string(rf.line) + ": " + e.what());
            continue;
        }
        // Check the whole file before taking any of its routes.
        std::vector<std::string> problems;
        std::set<std::string> seen;
        for (const auto& r : rf.routes) {
            for (bool async : sides(r.mode))
                if (auto it = apiOwner.find({r.api, async}); it != apiOwner.end())
                    problems.push_back(rf.path + ":" + std::to_string(r.line) + ": api '" + r.api + "' (" +
                                       (async ? "async" : "sync") + ") is already served by " + it->second);
            const Handler* h = plugin->handler(r.handler);
            if (!h)
                problems.push_back(rf.path + ":" + std::to_string(r.line) + ": plugin '" + plugin->name() +
                                   "' (" + lib + ") has no handler '" + r.handler + "'");
            else if (r.batch && !h->batch)
                problems.push_back(rf.path + ":" + std::to_string(r.line) + ": handler '" + r.handler +
                                   "' is not a batch handler");
        }
        if (!problems.empty()) {
            for (auto& p : problems) report.errors.push_back(p + "; plugin '" + rf.plugin + "' not loaded");
            continue;
        }
        for (const auto& r : rf.routes) {
            auto route = std::make_unique<Route>();
            route->spec = r;
            route->handler = *plugin->handler(r.handler);
            route->plugin = plugin;
            route->routeFile = rf.path;
            route->counter = _stats.route(r.api);
            for (bool async : sides(r.mode)) apiOwner[{r.api, async}] = rf.path;
            table->add(std::move(route));
        }
        table->_plugins.push_back(plugin);
        log.information("loaded plugin %s %s from %s: %z routes", plugin->name(), plugin->version(), lib,
                        rf.routes.size());
    }
    for (const auto& e : report.errors) log.error(e);
    report.table = table;
    return report;
}

} // namespace dora::plugins
