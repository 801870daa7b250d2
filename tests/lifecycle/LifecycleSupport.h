// tests/lifecycle/LifecycleSupport.h — what the plugin lifecycle tests
// share: a private plugins + routes folder pair assembled from the fixture
// plugins, control commands (getStat, reloadTask) and one-call helpers
// over the real wire, and running a command to capture what it prints.
#pragma once

#include "common/TestSupport.h"

#include <dora/sdk/value.h>

#include <cstdint>
#include <string>

namespace dora::test::lifecycle {

/// ${build}/tests/fixtures/plugins/lib<name>.so
std::string fixtureLibrary(const std::string& name);
/// ${build}/tests/fixtures/lifecycle/<name>.yaml
std::string fixtureRoutes(const std::string& name);

std::string readFile(const std::string& path);
void writeFile(const std::string& path, const std::string& text);
void copyFile(const std::string& from, const std::string& to);
/// Writes `from`'s bytes beside `to` under a temporary name, then renames
/// it over `to`: what a careful deploy does, so a reader sees the old or
/// the new file, never half of one.
void replaceAtomically(const std::string& from, const std::string& to);

/// A plugins folder and a routes folder in a fresh temporary directory,
/// removed with it.
class Stage {
public:
    Stage();
    ~Stage();
    Stage(const Stage&) = delete;
    Stage& operator=(const Stage&) = delete;

    const std::string& dir() const { return _dir; }
    std::string pluginsDir() const { return _dir + "/plugins"; }
    std::string routesDir() const { return _dir + "/routes.d"; }
    std::string pluginPath(const std::string& file) const { return pluginsDir() + "/" + file; }
    std::string routesPath(const std::string& name) const {
        return routesDir() + "/" + name + ".yaml";
    }

    /// Copies fixture lib<name>.so into the plugins folder (as lib<as>.so
    /// when `as` is given) and, unless routes is false, its routes file.
    void add(const std::string& name, bool routes = true, const std::string& as = "");
    void addRoutes(const std::string& name);
    void writeRoutes(const std::string& name, const std::string& yaml);
    void removeRoutes(const std::string& name);
    void removePlugin(const std::string& file);
    /// A host config naming these folders and nothing else (for
    /// --check-config, which needs no database); returns its path.
    std::string writeCheckConfig(const std::string& extra = "") const;
    /// HostProcess options using these folders.
    HostProcess::Options hostOptions() const;

private:
    std::string _dir;
};

/// A v1 control command (SC): the whole answer.
dora::sdk::Value control(WireClient& c, const std::string& cmd);
/// getStat's `server` part.
dora::sdk::Value serverStats(WireClient& c);
std::int64_t reloadCount(const dora::sdk::Value& stats);
/// getStat's plugins: name => version, as one "name=version,..." string
/// sorted by name (for messages and comparisons).
std::string pluginList(const dora::sdk::Value& stats);
/// The version getStat shows for plugin `name`, or "" if not loaded.
std::string pluginVersion(const dora::sdk::Value& stats, const std::string& name);
/// getStat's plugin_errors, joined by newlines.
std::string pluginErrors(const dora::sdk::Value& stats);
/// Polls getStat until `reloads` reaches at least n (a SIGHUP reload has
/// finished); throws after timeoutMs.
dora::sdk::Value waitForReloads(WireClient& c, std::int64_t n, int timeoutMs = 20000);

/// One sync call (v1 SSS): the answer's code, message and data; for a
/// handler's error answer, the handler's code, message and data.
struct Answer {
    std::int64_t code = -1;
    std::string msg;
    dora::sdk::Value data;
};
Answer call(WireClient& c, const std::string& api,
            const dora::sdk::Value& params = dora::sdk::Value::array());

/// What a command printed and how it ended.
struct RunResult {
    int status = -1; ///< exit status; 128+N when killed by signal N
    std::string out, err;
};
/// Runs argv (no shell) with stdout and stderr captured.
RunResult run(const std::vector<std::string>& argv, const std::string& cwd = "");

/// True if haystack contains needle.
inline bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

} // namespace dora::test::lifecycle
