// config/RouteFile.h — a plugin's route file: which library serves which
// APIs, in which modes (DESIGN.md "Route file"). Parsed strictly, like the
// host config; the plugin loader turns the result into the route table.
#pragma once

#include "config/ConfigError.h"

#include <string>
#include <vector>

namespace dora::config {

/// Where a route's calls run. The YAML keeps DoraRPC's words (`sync`,
/// `async`) and takes the plain ones too (`in_process`, `queued`).
enum class RouteMode {
    InProcess, ///< in the host's task pool: the wait modes (SSS/SSM, W_S/W_M) and the pushed-result modes (AM_S/AM_M)
    Queued,    ///< through the durable queue: the no-result modes (SRS/SRM, AN_S/AN_M)
    Any        ///< both
};

/// "sync", "async", "any" (the names route files use).
const char* toString(RouteMode mode);

/// One `routes:` entry.
struct RouteSpec {
    std::string api; ///< the name clients send; [A-Za-z0-9_.:-]+
    RouteMode mode = RouteMode::InProcess;
    std::string handler;    ///< the name the plugin registers; defaults to api
    int timeoutMs = 0;      ///< 0 = none
    int maxConcurrency = 0; ///< 0 = unlimited
    bool batch = false;     ///< handler is a batch handler (async or any only)
    /// In-process calls run on the I/O thread that read them, not in the
    /// task pool: for handlers that never block (no SQL, no sleeping).
    bool inlineRun = false;
    /// In-process calls of this route queued together run in one database
    /// transaction on one connection and are committed (and answered)
    /// together: one commit, one fsync, for up to kMaxGroup calls.
    bool groupCommit = false;
    int line = 0;           ///< 1-based line where the entry starts
};

/// One `options:` entry, unchecked: the plugin declares at init which keys
/// it takes and their types, and the loader checks these against them.
struct RouteOption {
    std::string name;
    std::string text; ///< the scalar as written (quotes removed)
    bool quoted = false; ///< written in quotes: a string even if it looks like a number
    int line = 0;
};

struct RouteFile {
    std::string path;              ///< as given to the loader
    std::string plugin;            ///< [A-Za-z0-9_.-]+
    std::string library;           ///< a file name (no '/'), looked up in the plugins dir
    int line = 0;                  ///< 1-based line of the `library:` key (for load errors)
    std::vector<RouteSpec> routes; ///< non-empty, in file order, apis unique
    std::vector<RouteOption> options; ///< `options:`, in file order, names unique
};

/// Throws ConfigError "<path>:<line>: <what>".
RouteFile loadRouteFile(const std::string& path);
/// As loadRouteFile with the text given; `virtualPath` names it in messages.
RouteFile loadRouteFileFromString(const std::string& yaml, const std::string& virtualPath);

struct RouteDirResult {
    std::vector<RouteFile> files;    ///< the files that loaded, sorted by file name
    std::vector<std::string> errors; ///< one ConfigError message per file that did not
};

/// Loads every *.yaml and *.yml regular file in `dir` (not subfolders, not
/// hidden files), sorted by name. A bad file becomes an error entry and the
/// others still load; an unreadable or missing dir is one error entry.
/// Duplicate apis across files are the plugin loader's to report.
RouteDirResult loadRoutesDir(const std::string& dir);

} // namespace dora::config
