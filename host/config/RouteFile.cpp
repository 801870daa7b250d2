#include "config/RouteFile.h"

#include "config/Schema.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <system_error>

namespace dora::config {

namespace fs = std::filesystem;

namespace {

RouteMode parseMode(const std::string& t) {
    std::string m = parseChoice(t, {"sync", "async", "any", "in_process", "queued"});
    if (m == "sync" || m == "in_process") return RouteMode::InProcess;
    if (m == "async" || m == "queued") return RouteMode::Queued;
    return RouteMode::Any;
}

std::string parseApiName(const std::string& t) { return parseToken(t, "_.:-", "a name"); }

std::string parseLibrary(const std::string& t) {
    if (t.empty() || t == "." || t == ".." || t.find('/') != std::string::npos) {
        throw std::invalid_argument("expected a file name without '/' (the library is looked "
                                    "up in the plugins directory), got '" +
                                    t + "'");
    }
    return t;
}

RouteSpec readRoute(const YAML::Node& node, std::size_t index, const Section& parent) {
    const int line = nodeLine(node, parent.lineOf("routes"));
    const std::string path = "routes[" + std::to_string(index) + "]";
    if (!node.IsMap()) {
        throw ConfigError(parent.file(), line,
                          path + ": expected a map with at least 'api', e.g. '- api: add_user'");
    }
    Section s(node, path, parent.file(), line,
              {"api", "mode", "handler", "timeout_ms", "max_concurrency", "batch", "inline",
               "group_commit"});
    RouteSpec r;
    r.line = line;
    s.require("api");
    s.read("api", r.api, parseApiName);
    s.read("mode", r.mode, parseMode);
    r.handler = r.api;
    s.read("handler", r.handler, parseApiName);
    s.readDuration("timeout_ms", r.timeoutMs, TimeUnit::Milliseconds, 0, 86400000);
    s.readInt("max_concurrency", r.maxConcurrency, 0, 1000000);
    s.readBool("batch", r.batch);
    s.readBool("inline", r.inlineRun);
    s.readBool("group_commit", r.groupCommit);
    if (r.batch && r.mode == RouteMode::InProcess && !r.groupCommit) {
        s.fail("batch", "a batch handler serves async calls, or sync calls with group_commit: set mode to "
                        "async or any, or add group_commit: true");
    }
    if (r.groupCommit && r.inlineRun) {
        s.fail("group_commit", "an inline route has no database: drop inline or group_commit");
    }
    if (r.groupCommit && r.mode == RouteMode::Queued) {
        s.fail("group_commit",
               "group_commit applies to in-process calls and mode async has none (queued calls are "
               "always committed in batches): set mode to sync or any");
    }
    if (r.groupCommit && r.maxConcurrency > 0) {
        s.fail("group_commit", "group_commit and max_concurrency do not combine: set one of them");
    }
    if (r.inlineRun && r.mode == RouteMode::Queued) {
        s.fail("inline", "inline applies to in-process calls and mode async has none: set mode to sync or any");
    }
    return r;
}

} // namespace

const char* toString(RouteMode mode) {
    switch (mode) {
    case RouteMode::InProcess:
        return "sync";
    case RouteMode::Queued:
        return "async";
    case RouteMode::Any:
        return "any";
    }
    return "?";
}

RouteFile loadRouteFileFromString(const std::string& yaml, const std::string& virtualPath) {
    YAML::Node root = parseDocument(yaml, virtualPath);
    Section top(root, "", virtualPath, 1, {"plugin", "library", "options", "routes"});
    RouteFile f;
    f.path = virtualPath;
    top.require("plugin");
    top.require("library");
    top.require("routes");
    top.read("plugin", f.plugin,
             [](const std::string& t) { return parseToken(t, "_.-", "a plugin name"); });
    top.read("library", f.library, parseLibrary);
    f.line = top.lineOf("library");

    if (top.has("options")) {
        YAML::Node opts = top.node("options");
        const int at = top.lineOf("options");
        if (!opts.IsNull() && !opts.IsMap())
            throw ConfigError(virtualPath, at, "options: expected a map of option name => value");
        if (opts.IsMap()) {
            for (auto it = opts.begin(); it != opts.end(); ++it) {
                RouteOption o;
                o.line = nodeLine(it->first, at);
                if (!it->first.IsScalar())
                    throw ConfigError(virtualPath, o.line, "options: a key must be a plain name");
                o.name = it->first.Scalar();
                for (const auto& prev : f.options)
                    if (prev.name == o.name)
                        throw ConfigError(virtualPath, o.line,
                                          "options: '" + o.name + "' is given twice (lines " +
                                              std::to_string(prev.line) + " and " + std::to_string(o.line) + ")");
                if (!it->second.IsScalar())
                    throw ConfigError(virtualPath, o.line,
                                      "options." + o.name + ": expected a single value (bool, number or text)");
                o.text = it->second.Scalar();
                o.quoted = it->second.Tag() == "!";
                f.options.push_back(std::move(o));
            }
        }
    }

    YAML::Node routes = top.node("routes");
    if (!routes.IsSequence() || routes.size() == 0) {
        top.fail("routes", "expected a non-empty list of routes ('- api: NAME' entries)");
    }
    std::map<std::string, int> seen; // api -> line
    for (std::size_t i = 0; i < routes.size(); ++i) {
        RouteSpec r = readRoute(routes[i], i, top);
        auto [it, fresh] = seen.emplace(r.api, r.line);
        if (!fresh) {
            throw ConfigError(virtualPath, r.line,
                              "duplicate api '" + r.api + "' (lines " + std::to_string(it->second) +
                                  " and " + std::to_string(r.line) + ")");
        }
        f.routes.push_back(std::move(r));
    }
    return f;
}

RouteFile loadRouteFile(const std::string& path) {
    return loadRouteFileFromString(readFileText(path), path);
}

RouteDirResult loadRoutesDir(const std::string& dir) {
    RouteDirResult result;
    std::vector<fs::path> files;
    std::error_code ec;
    fs::directory_iterator it(dir, ec);
    if (ec) {
        result.errors.push_back(
            ConfigError(dir, 0, "cannot read routes directory: " + ec.message()).what());
        return result;
    }
    for (; it != fs::directory_iterator(); it.increment(ec)) {
        const fs::path& p = it->path();
        std::string name = p.filename().string();
        std::string ext = p.extension().string();
        if (name.empty() || name[0] == '.' || (ext != ".yaml" && ext != ".yml")) continue;
        std::error_code typeEc;
        if (!fs::is_regular_file(p, typeEc)) continue;
        files.push_back(p);
    }
    if (ec) {
        result.errors.push_back(
            ConfigError(dir, 0, "cannot read routes directory: " + ec.message()).what());
    }
    std::sort(files.begin(), files.end(),
              [](const fs::path& a, const fs::path& b) { return a.filename() < b.filename(); });
    for (const auto& p : files) {
        try {
            result.files.push_back(loadRouteFile(p.string()));
        } catch (const ConfigError& e) {
            result.errors.emplace_back(e.what());
        }
    }
    return result;
}

} // namespace dora::config
