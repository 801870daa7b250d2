// tests/common/TestSupport.h — what integration tests need to drive the
// real host: start the built `dorahost` binary on a free port with the
// built plugins and the private MariaDB, talk to it over a real socket,
// and look at MySQL directly.
#pragma once

#include <dora/sdk/value.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace dora::test {

/// getenv with a default.
std::string env(const char* name, const std::string& fallback = "");
/// $DORA_BUILD_DIR (set by CTest) or throws.
std::string buildDir();
/// A port nobody listens on right now.
std::uint16_t freePort();
/// $DORAHOST_REDIS_SOCKET, which scripts/test.sh always exports (it starts
/// the private Redis); throws when it is unset, so a test of the durable
/// queue fails instead of quietly expecting a refusal.
std::string requireRedis();
/// Polls cond every 10 ms until it is true (returns true) or timeoutMs
/// passed (returns false). For waiting on an outcome without betting on
/// how fast a loaded machine gets there.
bool waitUntil(const std::function<bool()>& cond, int timeoutMs = 30000);

/// Runs `scripts/services.sh <command>` (the private MariaDB and Redis of
/// this checkout, $DORA_VAR_DIR); throws if it fails.
void services(const std::string& command);

/// Takes a service away for the guard's lifetime and gives it back in the
/// destructor unless restore() already did, so a failed assertion never
/// leaves the test services away. which: "mysql" or "redis".
/// Stop: the server shuts down (connections refused). Freeze (mysql only):
/// the server is stopped with SIGSTOP, so it keeps its sockets and accepts
/// TCP connections but answers nothing (a hung or unreachable server).
class ServiceDown {
public:
    enum class How { Stop, Freeze };
    explicit ServiceDown(std::string which, How how = How::Stop);
    ~ServiceDown();
    ServiceDown(const ServiceDown&) = delete;
    ServiceDown& operator=(const ServiceDown&) = delete;
    void start(); ///< gives the service back now
    void restore() { start(); }

private:
    std::string _which;
    How _how;
    bool _down = false;
};

/// The database settings the test script exported.
struct DbSettings {
    std::string host, user, password, database;
    std::uint16_t port = 3306;
};
DbSettings testDb();
/// A runner that keeps its rows apart gets a database of its own from CTest
/// (DORA_TEST_MYSQL_DATABASE=dorahost_test_<runner>, in its CMakeLists), so
/// parallel runners never clear or count each other's rows. This creates
/// the database named by testDb() and applies config/schema/*.sql, once
/// per process; throws std::runtime_error on failure.
void prepareTestDatabase();

/// The real dorahost binary, started with a generated config. Stopped
/// (SIGTERM, then SIGKILL) when destroyed, and killed when the thread that
/// started it ends (so a crashed or timed-out runner leaves no host
/// behind): start it from a thread that outlives it. Its folder (dir():
/// config, host.log) is removed when destroyed, except while an exception
/// unwinds (a failed assertion): then it is kept and its path printed.
class HostProcess {
public:
    struct Options {
        std::string extraYaml;                    ///< appended sections, e.g. "protocol:\n  signature: true\n"
        std::map<std::string, std::string> env;   ///< extra environment
        int taskWorkers = 4;
        std::string pluginsDir;                   ///< default: the build's plugins
        std::string routesDir;                    ///< default: the build's routes.d
        std::string queueName;   ///< stream names dora:<name>:tasks/dead (default per port)
        std::string nodeId;      ///< consumer name (default test-<queueName>)
        std::string queueYaml;   ///< extra keys of the queue: section, indented
        std::uint16_t port = 0;  ///< 0 = a free one
        std::string database;    ///< empty = the test database
        std::string serverYaml;  ///< extra keys of the server: section, indented ("  idle_timeout_sec: 1\n")
        std::string mysqlYaml;   ///< extra keys of the mysql: section, indented ("  read_timeout_sec: 1\n")
        /// The HTTP gateway's port (server.http on 127.0.0.1); 0 = gateway off.
        std::uint16_t httpPort = 0;
        /// The whole redis: section, replacing the one naming the test
        /// Redis ("redis:\n  socket: /nonexistent.sock\n": Redis down).
        std::string redisYaml;
    };
    explicit HostProcess(Options opt);
    HostProcess() : HostProcess(Options{}) {}
    ~HostProcess();
    HostProcess(const HostProcess&) = delete;
    HostProcess& operator=(const HostProcess&) = delete;

    std::uint16_t port() const { return _port; }
    std::uint16_t httpPort() const { return _httpPort; }
    int pid() const { return _pid; }
    bool running();
    /// SIGTERM and wait; returns the exit status (-1 if killed).
    int stop();
    /// Waits (sending nothing) until the host exits; returns its exit
    /// status, -1 if a signal ended it, -2 if it still runs after
    /// timeoutMs. Also after running() saw it go.
    int waitExit(int timeoutMs);
    void signal(int sig);
    std::string log() const; ///< what the host printed
    const std::string& dir() const { return _dir; }

private:
    std::string _dir;
    std::uint16_t _port = 0;
    std::uint16_t _httpPort = 0;
    int _pid = -1;
    int _exitStatus = -1; ///< once reaped
};

/// A gate a fixture handler waits at (slow_echo's and version_probe's
/// `until_file`): the call stays in its handler until the test opens the
/// gate, so a test can look at the host while a call is certainly running
/// instead of betting on how long a sleep lasts. Opened when destroyed, so
/// no handler is left waiting; the file lives in `dir` (e.g. the host's).
class Gate {
public:
    explicit Gate(const std::string& dir);
    ~Gate();
    Gate(const Gate&) = delete;
    Gate& operator=(const Gate&) = delete;
    const std::string& path() const { return _path; }
    void open();
    /// Waits until a call reached the gate (the handler wrote <path>.in) /
    /// left it (<path>.out); false after timeoutMs.
    bool waitEntered(int timeoutMs = 30000) const;
    bool waitLeft(int timeoutMs = 30000) const;

private:
    std::string _path;
};

/// A blocking TCP client speaking raw frames.
class WireClient {
public:
    explicit WireClient(std::uint16_t port, const std::string& host = "127.0.0.1");
    ~WireClient();
    WireClient(const WireClient&) = delete;
    WireClient& operator=(const WireClient&) = delete;

    void sendRaw(const std::string& bytes);
    /// The payload (everything after the 4-byte length) of the next frame;
    /// throws on timeout or when the peer closed.
    std::string readFrame(int timeoutMs = 10000);
    /// True if the peer closes within the time (reading and discarding).
    bool closedByPeer(int timeoutMs = 5000);
    /// True if bytes (or the peer's close) are waiting to be read now.
    bool readable();
    int fd() const { return _fd; }

private:
    int _fd = -1;
    std::string _buf;
};

/// pack('N', len) . body — a v1 (unsigned) frame.
std::string v1Frame(const std::string& body);
/// A v1 request body as the PHP client serializes it.
std::string v1Request(const std::string& guid, const std::string& type, const dora::sdk::Value& api);
/// {"one" => ["name" => api, "param" => param]}
dora::sdk::Value oneCall(const std::string& api, const dora::sdk::Value& param);
/// Sends a v1 request and decodes the answer.
dora::sdk::Value callV1(WireClient& c, const std::string& type, const dora::sdk::Value& api,
                        const std::string& guid = "0123456789abcdef0123456789abcdef");
/// A fresh random 32-hex guid.
std::string newGuid();

/// GET /metrics of a host's HTTP gateway on 127.0.0.1:httpPort
/// (HostProcess::Options::httpPort): the Prometheus exposition; throws
/// unless it is answered 200.
std::string scrapeMetrics(std::uint16_t httpPort);
/// The value of `series` (its name and labels exactly as exposed, e.g.
/// `dorahost_queue_batch_tasks_bucket{le="4"}`) in an exposition; throws
/// when it is absent.
std::string metricSample(const std::string& exposition, const std::string& series);

/// Direct MySQL access for checking what the host wrote.
class Db {
public:
    /// database: empty = the test database.
    explicit Db(const std::string& database = "");
    ~Db();
    /// Runs SQL, returns rows as arrays col => value.
    std::vector<dora::sdk::Value> query(const std::string& sql);
    void exec(const std::string& sql);
    std::int64_t scalar(const std::string& sql);

private:
    struct Impl;
    std::unique_ptr<Impl> _impl;
};

} // namespace dora::test
