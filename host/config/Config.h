// config/Config.h — the host configuration, parsed once and strictly into
// typed structs. Nothing outside host/config reads YAML keys by string:
// subsystems receive the struct they need (ServerConfig, MySqlConfig, ...)
// in their constructor.
//
// File layout and every key: docs/config.md. Defaults below are the
// built-in ones, used for keys a file leaves out.
#pragma once

#include "config/ConfigError.h"
#include <dora/wire/Endpoint.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace dora::config {
using wire::Endpoint;
using wire::parseEndpoint;


/// `server.signing:` — HMAC-SHA256 request signing (docs/protocol.md,
/// "Signed frames").
struct SigningConfig {
    /// The key's bytes, from `key` or read from `key_file` at load time
    /// (at least 16 bytes); empty = no key: signed frames are refused.
    std::string key;
    std::string keyFile; ///< absolute path when the key came from a file
    bool required = false; ///< unsigned frames are refused (needs a key)
    int replayWindowSec = 300; ///< |now - timestamp| accepted, 1..86400
    /// Nonces remembered to refuse a replay within the window; 0 = none
    /// (timestamps only). 0..10000000.
    std::size_t replayCache = 100000;
};

/// `server.tls:` — TLS on both listeners. Paths are absolute after loading
/// (relative ones are taken from the config file's folder). Empty cert:
/// plain TCP and HTTP. With a cert (and its key), the Dora TCP listener and
/// the HTTP gateway speak TLS 1.2+ only; with client_ca, a client must show
/// a certificate signed by it. The files themselves are read at start.
struct TlsConfig {
    std::string cert;
    std::string key;
    std::string clientCa;
    bool enabled() const { return !cert.empty(); }
};

/// `server:` — listeners, thread counts and the limits that protect them.
struct ServerConfig {
    Endpoint tcp{"127.0.0.1", 9567};  ///< Dora frames (v1, v2, JSON)
    Endpoint http{"127.0.0.1", 9566}; ///< HTTP gateway
    bool httpEnabled = true;
    int ioThreads = 1;                           ///< 1..64
    int taskWorkers = 4;                         ///< 1..1024; also the MySQL pool size
    std::size_t maxFrameBytes = 2 * 1024 * 1024; ///< 1KiB..1GiB
    std::size_t maxQueuedTasks = 10000;          ///< task pool queue bound, 1..10000000
    std::size_t maxCallsPerRequest = 100;        ///< keys in a multi request, 1..100000
    std::size_t maxInflightPerConnection = 1000; ///< 1..1000000
    int idleTimeoutSec = 0;                      ///< 0 = never; 0..604800
    int httpReceiveTimeoutSec = 30; ///< HTTP gateway: each wait for a request's bytes; 1..3600
    /// Client connections held at once (all I/O threads); beyond it a new
    /// connection is accepted and closed at once. Also sizes the open-files
    /// limit the host asks for at start. 1..1000000.
    std::size_t maxConnections = 10000;
    /// Unsent answer bytes one connection may hold before the host stops
    /// reading from it (until it drains below half). 64KiB..1GiB.
    std::size_t maxOutputBytes = 8 * 1024 * 1024;
    /// A connection over maxOutputBytes that has not drained below half in
    /// this long is closed. 0 = never; 0..86400.
    int outputStallTimeoutSec = 30;
    /// An incomplete frame not completed this long after its first byte
    /// closes the connection. 0 = never; 0..3600.
    int frameTimeoutSec = 10;
    /// SIGTERM drains: the host stops accepting, answers new requests
    /// 100209, finishes what it took, and exits within this long. 1..3600.
    int shutdownTimeoutSec = 30;
    /// A Poco level name: trace debug information notice warning error
    /// critical fatal none.
    std::string logLevel = "information";
    SigningConfig signing;
    /// `text` (one human line each) or `json` (one JSON object per line).
    std::string logFormat = "text";
    /// Refused requests, failed calls and dead letters logged per second at
    /// most; the rest are counted and reported in one "suppressed" line.
    /// 0 = none logged. 0..1000000.
    int logEventsPerSec = 100;
    TlsConfig tls;
};

/// `protocol:` — wire options that must match the clients' settings.
struct ProtocolConfig {
    bool signature = false;            ///< CRC-32 frame signatures
    std::string salt = "=&$*#@(*&%(@"; ///< signature salt (the clients' default)
    bool gzip = false;                 ///< gzip v2 answer bodies
};

/// `mysql:` — the pool's server; the pool holds ServerConfig::taskWorkers
/// connections.
struct MySqlConfig {
    std::string host = "127.0.0.1";
    std::uint16_t port = 3306;
    std::string user = "dora";
    std::string password;
    std::string database = "dorahost";
    int connectTimeoutSec = 5; ///< 1..3600
    int readTimeoutSec = 60;   ///< 1..86400
    int writeTimeoutSec = 60;  ///< 1..86400
};

/// `redis:` — the queue and session pool's server. A non-empty socket wins
/// over host/port.
struct RedisConfig {
    std::string socket; ///< absolute after loading, or empty
    std::string host = "127.0.0.1";
    std::uint16_t port = 6379;
    int connectTimeoutMs = 1000; ///< 1..600000
    /// Connections handlers may borrow (SDK 1.2 Redis calls), 0..1024;
    /// never more are open at once. 0: handlers get no Redis.
    int handlerConnections = 4;
    /// Non-empty: Redis Sentinel. Each connection asks these for the
    /// address of masterName (required then); socket/host/port are unused.
    std::vector<Endpoint> sentinels;
    std::string masterName;
};

/// `queue:` — the durable async task stream (Redis stream + consumer group).
struct QueueConfig {
    std::string stream = "dora:tasks";
    std::string group = "dorahost";
    std::string deadLetterStream = "dora:dead";
    /// This host's consumer name. Never empty after loading: an empty or
    /// absent node_id becomes defaultNodeId().
    std::string nodeId;
    int batchSize = 512;      ///< 1..10000 tasks per batch
    int batchLatencyMs = 5;   ///< 0..60000: wait this long to fill a batch
    /// 1..1000 requests the producer packs into one stream entry when it
    /// has that many in hand (queue/Pack.h); 1 = one entry per request,
    /// the only layout earlier dorahost versions read.
    int tasksPerEntry = 64;
    int maxRetries = 5;       ///< 0..1000, then the dead-letter stream
    int retryBackoffMs = 200; ///< 0..3600000
    /// Entries another consumer (a host that died) left pending this long
    /// are taken over (XAUTOCLAIM). 1..86400000.
    int claimIdleMs = 10000;
    /// Task status records (taskStatus, `dora task`) kept this long after
    /// their last change; 0 = none written. On by default: the accept path
    /// writes nothing for them, the consumer one hash field per request in
    /// its settle round trip (queue/TaskStatus.h; bench/status-cost.sh).
    /// 0..2592000.
    int statusTtlSec = 3600;
    /// "Accepted" also means acknowledged by this many replicas (one Redis
    /// WAIT per batch of XADDs), 0..100; 0 = stored on the master.
    int replicasAck = 0;
    int replicasAckTimeoutMs = 1000; ///< the WAIT's timeout, 1..60000
};

/// `registry:` — the DoraRPC v2 service registry in the queue's Redis
/// (PROTOCOL.md §7; docs/protocol.md, "Service registry").
struct RegistryConfig {
    bool enabled = true;
    std::vector<std::string> groups{"default"}; ///< each [A-Za-z0-9_.-]+
    int intervalSec = 10;                       ///< heartbeat, 1..3600
    /// The address clients are told; host empty = the TCP listener's
    /// (its bound port, and the first non-loopback IPv4 address when it
    /// listens on every interface).
    Endpoint advertise{"", 0};
};

/// `plugins:` — where plugin libraries and their route files live. After
/// loading, non-empty paths are absolute (relative ones were resolved
/// against the config file's folder). Empty means "not configured".
struct PluginsConfig {
    std::string pluginsDir;
    std::string routesDir;
};

/// `control:` — who may run control commands (getStat, reloadTask,
/// taskStatus, the dead-letter commands) and read /metrics.
struct ControlConfig {
    /// Empty: anyone who reaches a listener (DoraRPC's behaviour). Set: a
    /// command must carry it (param `token`, or `Authorization: Bearer`
    /// over HTTP) or is refused with 100214.
    std::string token;
};

struct Config {
    std::string file; ///< absolute path of the file loaded
    ServerConfig server;
    ProtocolConfig protocol;
    MySqlConfig mysql;
    RedisConfig redis;
    QueueConfig queue;
    RegistryConfig registry;
    PluginsConfig plugins;
    ControlConfig control;
};

/// Environment variables by name. Passed in explicitly so tests (and a
/// reload) decide what the loader sees.
using Environment = std::map<std::string, std::string>;

/// The process environment (from `environ`).
Environment processEnvironment();

/// The queue consumer name when node_id is not set: the host name, plus
/// ":<port>" of the TCP listener when that port is fixed (so two hosts on
/// one machine differ). Stable across restarts, so a restarted host
/// resumes its own unfinished tasks at once.
std::string defaultNodeId(std::uint16_t tcpPort = 0);

/// Reads `path`, applies the DORAHOST_* overrides found in `env`, and
/// validates everything. Throws ConfigError: "<path>:<line>: <what>" for
/// the file (path as given), "environment variable NAME: <what>" for an
/// override. An empty file means every default.
Config loadConfig(const std::string& path, const Environment& env);

/// As loadConfig, with the file's text given; `virtualPath` is used for
/// messages and to resolve relative paths (its folder, against the cwd if
/// it is itself relative).
Config loadConfigFromString(const std::string& yaml, const std::string& virtualPath,
                            const Environment& env);

} // namespace dora::config
