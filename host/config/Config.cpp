#include "config/Config.h"

#include "config/Schema.h"

#include <dora/wire/Signing.h>

#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <system_error>

extern char** environ; // NOLINT(readability-redundant-declaration): POSIX, not in any header

namespace dora::config {

namespace fs = std::filesystem;

namespace {

// Value rules used by both the file and the environment overrides, so an
// override is validated exactly like the key it replaces.
int parseIoThreads(const std::string& t) { return static_cast<int>(parseInteger(t, 1, 64)); }
int parseTaskWorkers(const std::string& t) { return static_cast<int>(parseInteger(t, 1, 1024)); }
std::uint16_t parsePort(const std::string& t) {
    return static_cast<std::uint16_t>(parseInteger(t, 1, 65535));
}
std::size_t parseMaxConnections(const std::string& t) {
    return static_cast<std::size_t>(parseInteger(t, 1, 1000000));
}
std::size_t parseMaxOutputBytes(const std::string& t) {
    return static_cast<std::size_t>(parseSize(t, 64 * 1024, 1024ULL * 1024 * 1024));
}
std::string parseLogLevel(const std::string& t) {
    return parseChoice(t, {"trace", "debug", "information", "notice", "warning", "error",
                           "critical", "fatal", "none"});
}
std::string parseLogFormat(const std::string& t) { return parseChoice(t, {"text", "json"}); }
/// Empty (no token) or 1..256 printable ASCII characters without spaces,
/// so it fits a bearer header unchanged.
std::string parseControlToken(const std::string& t) {
    if (t.size() > 256) throw std::invalid_argument("expected at most 256 characters, got " + std::to_string(t.size()));
    for (char ch : t)
        if (ch <= ' ' || ch > '~')
            throw std::invalid_argument("expected printable ASCII characters without spaces");
    return t;
}
/// A signing key given inline: at least 16 bytes.
std::string parseSigningKey(const std::string& t) {
    if (t.size() < wire::kMinSigningKeyBytes)
        throw std::invalid_argument("expected a key of at least " + std::to_string(wire::kMinSigningKeyBytes) +
                                    " bytes, got " + std::to_string(t.size()));
    return t;
}
/// Reads a key file; runtime errors (missing file, short key) become
/// invalid_argument so the caller names the key or variable.
std::string readKeyFile(const std::string& path) {
    try {
        return wire::readSigningKeyFile(path);
    } catch (const std::runtime_error& e) {
        throw std::invalid_argument(e.what());
    }
}
int parseReplayWindow(const std::string& t) {
    return static_cast<int>(parseDuration(t, TimeUnit::Seconds, 1, 86400));
}
std::string parseKeyName(const std::string& t) { return parseToken(t, "_.:-{}", "a Redis name"); }
std::string parseGroup(const std::string& t) { return parseToken(t, "_.-", "a group name"); }
std::vector<std::string> parseGroups(const std::string& t) {
    // The environment form: comma-separated.
    std::vector<std::string> out;
    std::size_t at = 0;
    for (;;) {
        std::size_t comma = t.find(',', at);
        out.push_back(parseGroup(t.substr(at, comma == std::string::npos ? comma : comma - at)));
        if (comma == std::string::npos) break;
        at = comma + 1;
    }
    return out;
}
int parseInterval(const std::string& t) {
    return static_cast<int>(parseDuration(t, TimeUnit::Seconds, 1, 3600));
}
/// Empty = the TCP listener's address. Otherwise a host clients can reach:
/// not a wildcard, not port 0.
Endpoint parseAdvertise(const std::string& t) {
    if (t.empty()) return Endpoint{"", 0};
    Endpoint ep = parseEndpoint(t);
    if (ep.host == "0.0.0.0" || ep.host == "::" || ep.host.empty())
        throw std::invalid_argument("expected the address clients connect to, got the wildcard '" +
                                    t + "' (name this host's address, or leave it \"\")");
    if (ep.port == 0)
        throw std::invalid_argument("expected a port clients connect to, got port 0 in '" + t + "'");
    return ep;
}
/// A sentinel's address: a host to connect to, not a wildcard, not port 0.
Endpoint parseSentinel(const std::string& t) {
    Endpoint ep = parseEndpoint(t);
    if (ep.host.empty() || ep.host == "0.0.0.0" || ep.host == "::")
        throw std::invalid_argument("expected a sentinel's host:port, got '" + t + "' (no host to connect to)");
    if (ep.port == 0) throw std::invalid_argument("expected a sentinel's port, got port 0 in '" + t + "'");
    return ep;
}
/// The environment form: comma-separated; empty = no sentinels.
std::vector<Endpoint> parseSentinelList(const std::string& t) {
    std::vector<Endpoint> out;
    std::size_t at = 0;
    while (!t.empty()) {
        std::size_t comma = t.find(',', at);
        out.push_back(parseSentinel(t.substr(at, comma == std::string::npos ? comma : comma - at)));
        if (comma == std::string::npos) break;
        at = comma + 1;
    }
    return out;
}
std::string parseMasterName(const std::string& t) {
    return t.empty() ? t : parseToken(t, "_.:-", "a master name");
}
/// Empty is allowed: it means defaultNodeId().
std::string parseNodeId(const std::string& t) {
    return t.empty() ? t : parseToken(t, "_.:-", "a node id");
}

/// Empty stays empty (= not configured); relative is taken from `base`.
std::string resolvePath(const std::string& text, const fs::path& base) {
    if (text.empty()) return text;
    fs::path p(text);
    return (p.is_absolute() ? p : base / p).lexically_normal().string();
}

fs::path absoluteFile(const std::string& path) {
    std::error_code ec;
    fs::path abs = fs::absolute(path, ec);
    return (ec ? fs::path(path) : abs).lexically_normal();
}

Config fromYaml(const YAML::Node& root, const std::string& file) {
    Config c;
    c.file = absoluteFile(file).string();
    const fs::path dir = fs::path(c.file).parent_path();
    auto path = [&](const std::string& t) { return resolvePath(t, dir); };

    Section top(root, "", file, 1,
                {"server", "protocol", "mysql", "redis", "queue", "registry", "plugins", "control"});

    Section s =
        top.child("server", {"tcp", "http", "http_enabled", "io_threads", "task_workers",
                             "max_frame_bytes", "max_queued_tasks", "max_calls_per_request",
                             "max_inflight_per_connection", "idle_timeout_sec", "max_connections",
                             "max_output_bytes", "output_stall_timeout_sec", "frame_timeout_sec",
                             "http_receive_timeout_sec", "shutdown_timeout_sec", "log_level",
                             "signing", "log_format", "log_events_per_sec", "tls"});
    ServerConfig& sv = c.server;
    s.read("tcp", sv.tcp, parseEndpoint);
    s.read("http", sv.http, parseEndpoint);
    s.readBool("http_enabled", sv.httpEnabled);
    s.read("io_threads", sv.ioThreads, parseIoThreads);
    s.read("task_workers", sv.taskWorkers, parseTaskWorkers);
    s.readSize("max_frame_bytes", sv.maxFrameBytes, 1024, 1024ULL * 1024 * 1024);
    s.readInt("max_queued_tasks", sv.maxQueuedTasks, 1, 10000000);
    s.readInt("max_calls_per_request", sv.maxCallsPerRequest, 1, 100000);
    s.readInt("max_inflight_per_connection", sv.maxInflightPerConnection, 1, 1000000);
    s.readDuration("idle_timeout_sec", sv.idleTimeoutSec, TimeUnit::Seconds, 0, 7 * 86400);
    s.read("max_connections", sv.maxConnections, parseMaxConnections);
    s.read("max_output_bytes", sv.maxOutputBytes, parseMaxOutputBytes);
    s.readDuration("output_stall_timeout_sec", sv.outputStallTimeoutSec, TimeUnit::Seconds, 0, 86400);
    s.readDuration("frame_timeout_sec", sv.frameTimeoutSec, TimeUnit::Seconds, 0, 3600);
    s.readDuration("http_receive_timeout_sec", sv.httpReceiveTimeoutSec, TimeUnit::Seconds, 1, 3600);
    s.readDuration("shutdown_timeout_sec", sv.shutdownTimeoutSec, TimeUnit::Seconds, 1, 3600);
    s.read("log_level", sv.logLevel, parseLogLevel);
    Section sg = s.child("signing", {"key", "key_file", "required", "replay_window_sec", "replay_cache"});
    if (sg.has("key") && sg.has("key_file")) sg.fail("key_file", "give key or key_file, not both");
    sg.read("key", sv.signing.key, parseSigningKey);
    sg.read("key_file", sv.signing.keyFile, path);
    if (!sv.signing.keyFile.empty()) sg.read("key_file", sv.signing.key, [&](const std::string&) {
        return readKeyFile(sv.signing.keyFile);
    });
    sg.readBool("required", sv.signing.required);
    sg.read("replay_window_sec", sv.signing.replayWindowSec, parseReplayWindow);
    sg.readInt("replay_cache", sv.signing.replayCache, 0, 10000000);
    s.read("log_format", sv.logFormat, parseLogFormat);
    s.readInt("log_events_per_sec", sv.logEventsPerSec, 0, 1000000);
    Section tls = s.child("tls", {"cert", "key", "client_ca"});
    tls.read("cert", sv.tls.cert, path);
    tls.read("key", sv.tls.key, path);
    tls.read("client_ca", sv.tls.clientCa, path);

    Section p = top.child("protocol", {"signature", "salt", "gzip"});
    p.readBool("signature", c.protocol.signature);
    p.readString("salt", c.protocol.salt);
    p.readBool("gzip", c.protocol.gzip);

    Section m =
        top.child("mysql", {"host", "port", "user", "password", "database", "connect_timeout_sec",
                            "read_timeout_sec", "write_timeout_sec"});
    m.read("host", c.mysql.host, parseNonEmpty);
    m.read("port", c.mysql.port, parsePort);
    m.read("user", c.mysql.user, parseNonEmpty);
    m.readString("password", c.mysql.password);
    m.read("database", c.mysql.database, parseNonEmpty);
    m.readDuration("connect_timeout_sec", c.mysql.connectTimeoutSec, TimeUnit::Seconds, 1, 3600);
    m.readDuration("read_timeout_sec", c.mysql.readTimeoutSec, TimeUnit::Seconds, 1, 86400);
    m.readDuration("write_timeout_sec", c.mysql.writeTimeoutSec, TimeUnit::Seconds, 1, 86400);

    Section r = top.child("redis", {"socket", "host", "port", "connect_timeout_ms", "handler_connections",
                                    "sentinels", "master_name"});
    r.read("socket", c.redis.socket, path);
    r.read("host", c.redis.host, parseNonEmpty);
    r.read("port", c.redis.port, parsePort);
    r.readDuration("connect_timeout_ms", c.redis.connectTimeoutMs, TimeUnit::Milliseconds, 1,
                   600000);
    r.readInt("handler_connections", c.redis.handlerConnections, 0, 1024);
    std::vector<std::string> sentinels;
    r.readList("sentinels", sentinels, [](const std::string& t) {
        parseSentinel(t);
        return t;
    });
    for (const auto& t : sentinels) c.redis.sentinels.push_back(parseSentinel(t));
    r.read("master_name", c.redis.masterName, parseMasterName);
    if (!c.redis.sentinels.empty() && c.redis.masterName.empty())
        r.fail("sentinels", "redis.sentinels needs redis.master_name (the name the sentinels monitor)");

    Section q =
        top.child("queue", {"stream", "group", "dead_letter_stream", "node_id", "batch_size",
                            "batch_latency_ms", "tasks_per_entry", "max_retries", "retry_backoff_ms", "claim_idle_ms",
                            "status_ttl_sec", "replicas_ack", "replicas_ack_timeout_ms"});
    QueueConfig& qu = c.queue;
    q.read("stream", qu.stream, parseKeyName);
    q.read("group", qu.group, parseKeyName);
    q.read("dead_letter_stream", qu.deadLetterStream, parseKeyName);
    q.read("node_id", qu.nodeId, parseNodeId);
    q.readInt("batch_size", qu.batchSize, 1, 10000);
    q.readDuration("batch_latency_ms", qu.batchLatencyMs, TimeUnit::Milliseconds, 0, 60000);
    q.readInt("tasks_per_entry", qu.tasksPerEntry, 1, 1000);
    q.readInt("max_retries", qu.maxRetries, 0, 1000);
    q.readDuration("retry_backoff_ms", qu.retryBackoffMs, TimeUnit::Milliseconds, 0, 3600000);
    q.readDuration("claim_idle_ms", qu.claimIdleMs, TimeUnit::Milliseconds, 1, 86400000);
    q.readDuration("status_ttl_sec", qu.statusTtlSec, TimeUnit::Seconds, 0, 30 * 86400);
    q.readInt("replicas_ack", qu.replicasAck, 0, 100);
    q.readDuration("replicas_ack_timeout_ms", qu.replicasAckTimeoutMs, TimeUnit::Milliseconds, 1, 60000);
    if (qu.stream == qu.deadLetterStream) {
        q.fail(q.has("dead_letter_stream") ? "dead_letter_stream" : "stream",
               "queue.stream and queue.dead_letter_stream must differ");
    }

    Section rg = top.child("registry", {"enabled", "groups", "interval_sec", "advertise"});
    rg.readBool("enabled", c.registry.enabled);
    rg.readList("groups", c.registry.groups, parseGroup);
    rg.read("interval_sec", c.registry.intervalSec, parseInterval);
    rg.read("advertise", c.registry.advertise, parseAdvertise);

    Section pl = top.child("plugins", {"plugins_dir", "routes_dir"});
    pl.read("plugins_dir", c.plugins.pluginsDir, path);
    pl.read("routes_dir", c.plugins.routesDir, path);

    Section ct = top.child("control", {"token"});
    ct.read("token", c.control.token, parseControlToken);
    return c;
}

struct EnvOverride {
    const char* name;
    void (*apply)(Config&, const std::string&);
};

std::string cwdPath(const std::string& t) {
    std::error_code ec;
    return resolvePath(t, fs::current_path(ec));
}

// Applied in this order. The Redis host/port clear the socket and come
// before DORAHOST_REDIS_SOCKET, so a socket given alongside them still wins.
const EnvOverride kOverrides[] = {
    {"DORAHOST_TCP", [](Config& c, const std::string& v) { c.server.tcp = parseEndpoint(v); }},
    {"DORAHOST_HTTP", [](Config& c, const std::string& v) { c.server.http = parseEndpoint(v); }},
    {"DORAHOST_IO_THREADS",
     [](Config& c, const std::string& v) { c.server.ioThreads = parseIoThreads(v); }},
    {"DORAHOST_TASK_WORKERS",
     [](Config& c, const std::string& v) { c.server.taskWorkers = parseTaskWorkers(v); }},
    {"DORAHOST_MAX_CONNECTIONS",
     [](Config& c, const std::string& v) { c.server.maxConnections = parseMaxConnections(v); }},
    {"DORAHOST_MAX_OUTPUT_BYTES",
     [](Config& c, const std::string& v) { c.server.maxOutputBytes = parseMaxOutputBytes(v); }},
    {"DORAHOST_LOG_LEVEL",
     [](Config& c, const std::string& v) { c.server.logLevel = parseLogLevel(v); }},
    {"DORAHOST_LOG_FORMAT",
     [](Config& c, const std::string& v) { c.server.logFormat = parseLogFormat(v); }},
    {"DORAHOST_MYSQL_HOST",
     [](Config& c, const std::string& v) { c.mysql.host = parseNonEmpty(v); }},
    {"DORAHOST_MYSQL_PORT", [](Config& c, const std::string& v) { c.mysql.port = parsePort(v); }},
    {"DORAHOST_MYSQL_USER",
     [](Config& c, const std::string& v) { c.mysql.user = parseNonEmpty(v); }},
    {"DORAHOST_MYSQL_PASSWORD", [](Config& c, const std::string& v) { c.mysql.password = v; }},
    {"DORAHOST_MYSQL_DATABASE",
     [](Config& c, const std::string& v) { c.mysql.database = parseNonEmpty(v); }},
    {"DORAHOST_REDIS_HOST",
     [](Config& c, const std::string& v) {
         c.redis.host = parseNonEmpty(v);
         c.redis.socket.clear();
     }},
    {"DORAHOST_REDIS_PORT",
     [](Config& c, const std::string& v) {
         c.redis.port = parsePort(v);
         c.redis.socket.clear();
     }},
    {"DORAHOST_REDIS_SOCKET", [](Config& c, const std::string& v) { c.redis.socket = cwdPath(v); }},
    {"DORAHOST_REDIS_SENTINELS",
     [](Config& c, const std::string& v) { c.redis.sentinels = parseSentinelList(v); }},
    {"DORAHOST_REDIS_MASTER_NAME",
     [](Config& c, const std::string& v) { c.redis.masterName = parseMasterName(v); }},
    {"DORAHOST_PLUGINS_DIR",
     [](Config& c, const std::string& v) { c.plugins.pluginsDir = cwdPath(v); }},
    {"DORAHOST_ROUTES_DIR",
     [](Config& c, const std::string& v) { c.plugins.routesDir = cwdPath(v); }},
    {"DORAHOST_NODE_ID", [](Config& c, const std::string& v) { c.queue.nodeId = parseNodeId(v); }},
    {"DORAHOST_SHUTDOWN_TIMEOUT_SEC",
     [](Config& c, const std::string& v) {
         c.server.shutdownTimeoutSec = static_cast<int>(parseDuration(v, TimeUnit::Seconds, 1, 3600));
     }},
    {"DORAHOST_CLAIM_IDLE_MS",
     [](Config& c, const std::string& v) {
         c.queue.claimIdleMs = static_cast<int>(parseDuration(v, TimeUnit::Milliseconds, 1, 86400000));
     }},
    {"DORAHOST_REGISTRY_ENABLED",
     [](Config& c, const std::string& v) { c.registry.enabled = parseBool(v); }},
    {"DORAHOST_REGISTRY_GROUPS",
     [](Config& c, const std::string& v) { c.registry.groups = parseGroups(v); }},
    {"DORAHOST_REGISTRY_INTERVAL_SEC",
     [](Config& c, const std::string& v) { c.registry.intervalSec = parseInterval(v); }},
    {"DORAHOST_REGISTRY_ADVERTISE",
     [](Config& c, const std::string& v) { c.registry.advertise = parseAdvertise(v); }},
    {"DORAHOST_SIGNING_KEY",
     [](Config& c, const std::string& v) {
         c.server.signing.key = parseSigningKey(v);
         c.server.signing.keyFile.clear();
     }},
    {"DORAHOST_SIGNING_KEY_FILE",
     [](Config& c, const std::string& v) {
         c.server.signing.keyFile = cwdPath(v);
         c.server.signing.key = readKeyFile(c.server.signing.keyFile);
     }},
    {"DORAHOST_SIGNING_REQUIRED",
     [](Config& c, const std::string& v) { c.server.signing.required = parseBool(v); }},
    {"DORAHOST_TLS_CERT", [](Config& c, const std::string& v) { c.server.tls.cert = cwdPath(v); }},
    {"DORAHOST_TLS_KEY", [](Config& c, const std::string& v) { c.server.tls.key = cwdPath(v); }},
    {"DORAHOST_TLS_CLIENT_CA", [](Config& c, const std::string& v) { c.server.tls.clientCa = cwdPath(v); }},
    {"DORAHOST_CONTROL_TOKEN", [](Config& c, const std::string& v) { c.control.token = parseControlToken(v); }},
};

void applyEnvironment(Config& c, const Environment& env) {
    for (const auto& o : kOverrides) {
        auto it = env.find(o.name);
        if (it == env.end()) continue;
        try {
            o.apply(c, it->second);
        } catch (const std::invalid_argument& e) {
            throw ConfigError(std::string("environment variable ") + o.name, 0, e.what());
        }
    }
}

} // namespace

Environment processEnvironment() {
    Environment env;
    for (char** e = environ; e && *e; ++e) {
        std::string entry(*e);
        std::size_t eq = entry.find('=');
        if (eq == std::string::npos) continue;
        env.emplace(entry.substr(0, eq), entry.substr(eq + 1));
    }
    return env;
}

std::string defaultNodeId(std::uint16_t tcpPort) {
    // Stable across restarts: a restarted host finds the tasks it had taken
    // but not finished under its own consumer name and runs them at once.
    char host[256] = {};
    std::string name = gethostname(host, sizeof host - 1) != 0 || host[0] == '\0'
                           ? std::string("localhost")
                           : std::string(host);
    // Node ids allow letters, digits and _ . : - only.
    for (char& ch : name)
        if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != '.' && ch != '-')
            ch = '-';
    return tcpPort ? name + ":" + std::to_string(tcpPort) : name;
}

namespace {

/// After the overrides, which may set one half of the pair.
void checkTls(const TlsConfig& t, const std::string& file) {
    auto bad = [&](const std::string& what) { throw ConfigError(file, 0, what); };
    if (!t.cert.empty() && t.key.empty())
        bad("server.tls.cert is set but server.tls.key is not: TLS needs the certificate's private key too");
    if (t.cert.empty() && !t.key.empty())
        bad("server.tls.key is set but server.tls.cert is not: TLS needs the certificate too");
    if (t.cert.empty() && !t.clientCa.empty())
        bad("server.tls.client_ca is set but server.tls.cert is not: mutual TLS needs the server's own "
            "certificate and key");
}

} // namespace

Config loadConfigFromString(const std::string& yaml, const std::string& virtualPath,
                            const Environment& env) {
    Config c = fromYaml(parseDocument(yaml, virtualPath), virtualPath);
    applyEnvironment(c, env);
    // After the overrides: the key may come from DORAHOST_SIGNING_KEY.
    if (c.server.signing.required && c.server.signing.key.empty())
        throw ConfigError(virtualPath, 0,
                          "server.signing.required is true but no key is set (server.signing.key or key_file, "
                          "or DORAHOST_SIGNING_KEY / DORAHOST_SIGNING_KEY_FILE)");
    checkTls(c.server.tls, virtualPath);
    if (!c.redis.sentinels.empty() && c.redis.masterName.empty())
        throw ConfigError(env.count("DORAHOST_REDIS_MASTER_NAME") ? "environment variable DORAHOST_REDIS_MASTER_NAME"
                                                                  : "environment variable DORAHOST_REDIS_SENTINELS",
                          0,
                          "redis.sentinels needs redis.master_name (set DORAHOST_REDIS_MASTER_NAME)");
    if (c.queue.nodeId.empty()) c.queue.nodeId = defaultNodeId(c.server.tcp.port);
    return c;
}

Config loadConfig(const std::string& path, const Environment& env) {
    return loadConfigFromString(readFileText(path), path, env);
}

} // namespace dora::config
