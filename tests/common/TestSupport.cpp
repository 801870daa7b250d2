#include "common/TestSupport.h"

#include <dora/sdk/serialize.h>

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>

#include <mysql/mysql.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace dora::test {

using dora::sdk::Value;

std::string env(const char* name, const std::string& fallback) {
    const char* v = std::getenv(name);
    return v && *v ? std::string(v) : fallback;
}

std::string buildDir() {
    std::string d = env("DORA_BUILD_DIR");
    if (d.empty()) throw std::runtime_error("DORA_BUILD_DIR is not set (run the tests through ctest)");
    return d;
}

std::uint16_t freePort() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("bind");
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

void services(const std::string& command) {
    std::string src = env("DORA_SOURCE_DIR");
    if (src.empty())
        throw std::runtime_error("DORA_SOURCE_DIR is not set (run the tests through ctest)");
    std::string cmd = src + "/scripts/services.sh " + command;
    std::cout << "\n  [services] " << command << std::endl;
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("failed: " + cmd);
}

ServiceDown::ServiceDown(std::string which, How how) : _which(std::move(which)), _how(how) {
    _down = true; // even a half-done stop must be undone
    services((_how == How::Freeze ? "freeze-" : "stop-") + _which);
}

ServiceDown::~ServiceDown() {
    if (!_down) return;
    try {
        start();
    } catch (const std::exception& e) {
        std::cerr << "could not give back " << _which << ": " << e.what() << std::endl;
    }
}

void ServiceDown::start() {
    services((_how == How::Freeze ? "thaw-" : "start-") + _which);
    _down = false;
}

std::string requireRedis() {
    std::string s = env("DORAHOST_REDIS_SOCKET");
    if (s.empty())
        throw std::runtime_error("DORAHOST_REDIS_SOCKET is not set: run the tests through "
                                 "scripts/test.sh (or export scripts/services.sh env), which "
                                 "starts the private Redis");
    return s;
}

bool waitUntil(const std::function<bool()>& cond, int timeoutMs) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    for (;;) {
        if (cond()) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

DbSettings testDb() {
    DbSettings s;
    s.host = env("DORAHOST_MYSQL_HOST", "127.0.0.1");
    s.port = static_cast<std::uint16_t>(std::stoi(env("DORAHOST_MYSQL_PORT", "13306")));
    s.user = env("DORAHOST_MYSQL_USER", "dora");
    s.password = env("DORAHOST_MYSQL_PASSWORD", "dora");
    s.database = env("DORA_TEST_MYSQL_DATABASE", "dorahost_test");
    return s;
}

void prepareTestDatabase() {
    static bool done = false;
    if (done) return;
    DbSettings s = testDb();
    MYSQL* db = mysql_init(nullptr);
    if (!mysql_real_connect(db, s.host.c_str(), s.user.c_str(), s.password.c_str(), nullptr, s.port,
                            nullptr, CLIENT_MULTI_STATEMENTS)) {
        std::string why = mysql_error(db);
        mysql_close(db);
        throw std::runtime_error("cannot connect to MySQL for the test database: " + why);
    }
    auto run = [&](const std::string& sql) {
        if (mysql_query(db, sql.c_str()) != 0) {
            std::string why = mysql_error(db);
            mysql_close(db);
            throw std::runtime_error("SQL failed: " + sql.substr(0, 80) + ": " + why);
        }
        do {
            if (MYSQL_RES* r = mysql_store_result(db)) mysql_free_result(r);
        } while (mysql_next_result(db) == 0);
    };
    run("CREATE DATABASE IF NOT EXISTS `" + s.database + "`");
    run("USE `" + s.database + "`");
    std::string dir = env("DORA_SOURCE_DIR") + "/config/schema";
    std::vector<std::string> files;
    if (DIR* d = opendir(dir.c_str())) {
        while (dirent* e = readdir(d)) {
            std::string n = e->d_name;
            if (n.size() > 4 && n.compare(n.size() - 4, 4, ".sql") == 0) files.push_back(n);
        }
        closedir(d);
    }
    if (files.empty()) throw std::runtime_error("no schema files in " + dir);
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
        std::ifstream in(dir + "/" + f);
        std::stringstream ss;
        ss << in.rdbuf();
        run(ss.str());
    }
    mysql_close(db);
    done = true;
}

// ---------------------------------------------------------------- host

HostProcess::HostProcess(Options opt) {
    char tmpl[] = "/tmp/dora-test-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    _dir = tmpl;
    _port = opt.port ? opt.port : freePort();
    _httpPort = opt.httpPort;
    std::string bd = buildDir();
    std::string plugins = opt.pluginsDir.empty() ? bd + "/lib/dorahost/plugins" : opt.pluginsDir;
    std::string routes = opt.routesDir.empty() ? bd + "/etc/dorahost/routes.d" : opt.routesDir;
    DbSettings db = testDb();
    {
        std::ofstream f(_dir + "/dorahost.yaml");
        f << "server:\n  tcp: 127.0.0.1:" << _port << "\n";
        if (opt.httpPort)
            f << "  http: 127.0.0.1:" << opt.httpPort << "\n  http_enabled: true\n";
        else
            f << "  http_enabled: false\n";
        f << "  task_workers: " << opt.taskWorkers << "\n  log_level: information\n" << opt.serverYaml
          << "mysql:\n  host: " << db.host << "\n  port: " << db.port << "\n  user: " << db.user
          << "\n  password: \"" << db.password << "\"\n  database: " << (opt.database.empty() ? db.database : opt.database) << "\n"
          << opt.mysqlYaml
          << "plugins:\n  plugins_dir: " << plugins << "\n  routes_dir: " << routes << "\n";
        // Each test host gets its own streams so hosts never share tasks.
        std::string redisSocket = env("DORAHOST_REDIS_SOCKET");
        if (!opt.redisYaml.empty())
            f << opt.redisYaml;
        else if (!redisSocket.empty())
            f << "redis:\n  socket: " << redisSocket << "\n";
        std::string q = opt.queueName.empty() ? "t" + std::to_string(_port) : opt.queueName;
        f << "queue:\n  stream: \"dora:" << q << ":tasks\"\n  dead_letter_stream: \"dora:" << q
          << ":dead\"\n  node_id: \"" << (opt.nodeId.empty() ? "test-" + q : opt.nodeId) << "\"\n"
          << opt.queueYaml;
        f << opt.extraYaml;
    }
    // The host must see exactly this config: drop the run script's overrides.
    std::vector<std::string> envs;
    for (char** e = environ; *e; ++e) {
        std::string kv = *e;
        if (kv.rfind("DORAHOST_", 0) == 0) continue;
        envs.push_back(kv);
    }
    for (auto& [k, v] : opt.env) envs.push_back(k + "=" + v);
    std::string bin = bd + "/bin/dorahost";
    std::string cfg = _dir + "/dorahost.yaml";
    std::string logPath = _dir + "/host.log";
    pid_t parent = getpid();
    _pid = fork();
    if (_pid == 0) {
        // A runner that crashes or is killed (ctest timeout) must not leave
        // its hosts running: they hold ports and uncommitted MySQL locks.
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        int fd = ::open(logPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        std::vector<char*> envp;
        for (auto& s : envs) envp.push_back(s.data());
        envp.push_back(nullptr);
        char* args[] = {bin.data(), const_cast<char*>("--config"), cfg.data(), nullptr};
        execve(bin.c_str(), args, envp.data());
        _exit(127);
    }
    // Ready when it accepts a connection.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
        if (!running()) throw std::runtime_error("dorahost exited at start:\n" + log());
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(_port);
        bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
        ::close(fd);
        if (ok) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    stop();
    throw std::runtime_error("dorahost did not start listening in 20 s:\n" + log());
}

HostProcess::~HostProcess() {
    stop();
    // A failed assertion unwinds through here: keep the host's folder (its
    // config and host.log) for whoever reads the failure.
    if (std::uncaught_exceptions() > 0) {
        std::cerr << "the host's config and log are kept in " << _dir << std::endl;
        return;
    }
    std::string cmd = "rm -rf '" + _dir + "'";
    if (std::system(cmd.c_str()) != 0) {
    }
}

bool HostProcess::running() {
    if (_pid <= 0) return false;
    int st = 0;
    pid_t r = waitpid(_pid, &st, WNOHANG);
    if (r == _pid) {
        _pid = -1;
        _exitStatus = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        return false;
    }
    return true;
}

int HostProcess::waitExit(int timeoutMs) {
    if (!waitUntil([&] { return !running(); }, timeoutMs)) return -2;
    return _exitStatus;
}

void HostProcess::signal(int sig) {
    if (_pid > 0) ::kill(_pid, sig);
}

int HostProcess::stop() {
    if (_pid <= 0) return 0;
    ::kill(_pid, SIGTERM);
    int st = 0;
    for (int i = 0; i < 200; ++i) {
        if (waitpid(_pid, &st, WNOHANG) == _pid) {
            _pid = -1;
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ::kill(_pid, SIGKILL);
    waitpid(_pid, &st, 0);
    _pid = -1;
    return -1;
}

std::string HostProcess::log() const {
    std::ifstream f(_dir + "/host.log");
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

Gate::Gate(const std::string& dir) : _path(dir + "/gate-" + newGuid()) {}

Gate::~Gate() {
    try {
        open();
    } catch (...) {
    }
}

void Gate::open() {
    std::ofstream f(_path);
    if (!f) throw std::runtime_error("cannot open gate " + _path);
}

bool Gate::waitEntered(int timeoutMs) const {
    std::string f = _path + ".in";
    return waitUntil([&] { return ::access(f.c_str(), F_OK) == 0; }, timeoutMs);
}

bool Gate::waitLeft(int timeoutMs) const {
    std::string f = _path + ".out";
    return waitUntil([&] { return ::access(f.c_str(), F_OK) == 0; }, timeoutMs);
}

// -------------------------------------------------------------- client

WireClient::WireClient(std::uint16_t port, const std::string& host) {
    _fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    inet_pton(AF_INET, host.c_str(), &a.sin_addr);
    a.sin_port = htons(port);
    if (::connect(_fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(_fd);
        throw std::runtime_error("cannot connect to port " + std::to_string(port));
    }
    int one = 1;
    setsockopt(_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

WireClient::~WireClient() {
    if (_fd >= 0) ::close(_fd);
}

void WireClient::sendRaw(const std::string& bytes) {
    std::size_t off = 0;
    while (off < bytes.size()) {
        ssize_t n = ::send(_fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
        if (n <= 0) throw std::runtime_error("send failed: " + std::string(std::strerror(errno)));
        off += static_cast<std::size_t>(n);
    }
}

std::string WireClient::readFrame(int timeoutMs) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    for (;;) {
        if (_buf.size() >= 4) {
            const auto* u = reinterpret_cast<const unsigned char*>(_buf.data());
            std::uint32_t len = (std::uint32_t(u[0]) << 24) | (std::uint32_t(u[1]) << 16) |
                                (std::uint32_t(u[2]) << 8) | u[3];
            if (_buf.size() >= 4 + len) {
                std::string payload = _buf.substr(4, len);
                _buf.erase(0, 4 + len);
                return payload;
            }
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
        if (left <= 0) throw std::runtime_error("timed out waiting for a frame");
        pollfd p{_fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
        char tmp[65536];
        ssize_t n = ::recv(_fd, tmp, sizeof tmp, 0);
        if (n <= 0) throw std::runtime_error("connection closed by the host");
        _buf.append(tmp, static_cast<std::size_t>(n));
    }
}

bool WireClient::closedByPeer(int timeoutMs) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    do { // looks at least once, so closedByPeer(0) asks "closed by now?"
        pollfd p{_fd, POLLIN, 0};
        if (::poll(&p, 1, timeoutMs > 0 ? 50 : 0) <= 0) continue;
        char tmp[4096];
        ssize_t n = ::recv(_fd, tmp, sizeof tmp, 0);
        if (n == 0) return true;
        if (n < 0 && errno != EAGAIN && errno != EINTR) return true;
    } while (std::chrono::steady_clock::now() < deadline);
    return false;
}

bool WireClient::readable() {
    if (!_buf.empty()) return true;
    pollfd p{_fd, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
}

std::string v1Frame(const std::string& body) {
    std::string out(4, '\0');
    std::uint32_t n = static_cast<std::uint32_t>(body.size());
    out[0] = static_cast<char>(n >> 24);
    out[1] = static_cast<char>(n >> 16);
    out[2] = static_cast<char>(n >> 8);
    out[3] = static_cast<char>(n);
    return out + body;
}

std::string v1Request(const std::string& guid, const std::string& type, const Value& api) {
    Value req = Value::array();
    req.set("guid", guid);
    req.set("type", type);
    req.set("api", api);
    return dora::sdk::serialize(req);
}

Value oneCall(const std::string& api, const Value& param) {
    Value call = Value::array();
    call.set("name", api);
    call.set("param", param);
    Value apis = Value::array();
    apis.set("one", call);
    return apis;
}

Value callV1(WireClient& c, const std::string& type, const Value& api, const std::string& guid) {
    c.sendRaw(v1Frame(v1Request(guid, type, api)));
    return dora::sdk::unserialize(c.readFrame());
}

std::string newGuid() {
    static thread_local std::mt19937_64 rng(std::random_device{}());
    static const char* hex = "0123456789abcdef";
    std::string g(32, '0');
    for (auto& ch : g) ch = hex[rng() & 15];
    return g;
}

// ------------------------------------------------------------- metrics

std::string scrapeMetrics(std::uint16_t httpPort) {
    Poco::Net::HTTPClientSession s("127.0.0.1", httpPort);
    s.setTimeout(Poco::Timespan(10, 0));
    Poco::Net::HTTPRequest req(Poco::Net::HTTPRequest::HTTP_GET, "/metrics",
                               Poco::Net::HTTPRequest::HTTP_1_1);
    s.sendRequest(req);
    Poco::Net::HTTPResponse resp;
    std::istream& in = s.receiveResponse(resp);
    std::string body;
    Poco::StreamCopier::copyToString(in, body);
    if (resp.getStatus() != Poco::Net::HTTPResponse::HTTP_OK)
        throw std::runtime_error("GET /metrics answered " + std::to_string(resp.getStatus()) +
                                 ": " + body);
    return body;
}

std::string metricSample(const std::string& exposition, const std::string& series) {
    std::istringstream in(exposition);
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(series + " ", 0) == 0) return line.substr(series.size() + 1);
    throw std::runtime_error("no sample " + series + " in:\n" + exposition);
}

// ------------------------------------------------------------------ db

struct Db::Impl {
    MYSQL* conn = nullptr;
};

Db::Db(const std::string& database) : _impl(std::make_unique<Impl>()) {
    DbSettings s = testDb();
    if (!database.empty()) s.database = database;
    _impl->conn = mysql_init(nullptr);
    if (!mysql_real_connect(_impl->conn, s.host.c_str(), s.user.c_str(), s.password.c_str(),
                            s.database.c_str(), s.port, nullptr, 0))
        throw std::runtime_error(std::string("test cannot connect to MariaDB: ") + mysql_error(_impl->conn));
}

Db::~Db() {
    if (_impl->conn) mysql_close(_impl->conn);
}

void Db::exec(const std::string& sql) {
    if (mysql_real_query(_impl->conn, sql.data(), sql.size()) != 0)
        throw std::runtime_error("SQL failed: " + sql + ": " + mysql_error(_impl->conn));
    MYSQL_RES* r = mysql_store_result(_impl->conn);
    if (r) mysql_free_result(r);
}

std::vector<Value> Db::query(const std::string& sql) {
    if (mysql_real_query(_impl->conn, sql.data(), sql.size()) != 0)
        throw std::runtime_error("SQL failed: " + sql + ": " + mysql_error(_impl->conn));
    std::vector<Value> rows;
    MYSQL_RES* r = mysql_store_result(_impl->conn);
    if (!r) return rows;
    unsigned n = mysql_num_fields(r);
    MYSQL_FIELD* fields = mysql_fetch_fields(r);
    while (MYSQL_ROW row = mysql_fetch_row(r)) {
        unsigned long* lens = mysql_fetch_lengths(r);
        Value v = Value::array();
        for (unsigned i = 0; i < n; ++i)
            v.set(fields[i].name, row[i] ? Value(std::string(row[i], lens[i])) : Value());
        rows.push_back(std::move(v));
    }
    mysql_free_result(r);
    return rows;
}

std::int64_t Db::scalar(const std::string& sql) {
    auto rows = query(sql);
    if (rows.empty() || rows[0].asArray().empty()) throw std::runtime_error("no value from: " + sql);
    const Value& v = rows[0].asArray().begin()->value;
    return v.isNull() ? 0 : std::stoll(v.asString());
}

} // namespace dora::test
