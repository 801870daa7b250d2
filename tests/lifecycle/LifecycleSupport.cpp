#include "lifecycle/LifecycleSupport.h"

#include <dora/sdk/serialize.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace fs = std::filesystem;

namespace dora::test::lifecycle {

using dora::sdk::Value;

std::string fixtureLibrary(const std::string& name) {
    return buildDir() + "/tests/fixtures/plugins/lib" + name + ".so";
}

std::string fixtureRoutes(const std::string& name) {
    return buildDir() + "/tests/fixtures/lifecycle/" + name + ".yaml";
}

std::string readFile(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error("cannot read " + path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

void writeFile(const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << text;
    if (!f.flush()) throw std::runtime_error("cannot write " + path);
}

void copyFile(const std::string& from, const std::string& to) {
    if (!fs::exists(from)) throw std::runtime_error("fixture missing: " + from + " (is it built?)");
    fs::copy_file(from, to, fs::copy_options::overwrite_existing);
}

void replaceAtomically(const std::string& from, const std::string& to) {
    std::string tmp = to + ".tmp-" + std::to_string(::getpid());
    copyFile(from, tmp);
    fs::rename(tmp, to);
}

// ---------------------------------------------------------------- Stage

Stage::Stage() {
    char tmpl[] = "/tmp/dora-lifecycle-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    _dir = tmpl;
    fs::create_directories(pluginsDir());
    fs::create_directories(routesDir());
}

Stage::~Stage() {
    std::error_code ec;
    fs::remove_all(_dir, ec);
}

void Stage::add(const std::string& name, bool routes, const std::string& as) {
    if (name == "clang_abi" && !fs::exists(fixtureLibrary(name)))
        throw std::runtime_error(
            "libclang_abi.so was not built: clang++ was not found when the build "
            "was configured (scripts/deps.sh installs clang)");
    copyFile(fixtureLibrary(name), pluginPath("lib" + (as.empty() ? name : as) + ".so"));
    if (routes) addRoutes(as.empty() ? name : as);
}

void Stage::addRoutes(const std::string& name) { copyFile(fixtureRoutes(name), routesPath(name)); }

void Stage::writeRoutes(const std::string& name, const std::string& yaml) {
    writeFile(routesPath(name), yaml);
}

void Stage::removeRoutes(const std::string& name) { fs::remove(routesPath(name)); }

void Stage::removePlugin(const std::string& file) { fs::remove(pluginPath(file)); }

std::string Stage::writeCheckConfig(const std::string& extra) const {
    std::string path = _dir + "/check.yaml";
    writeFile(path, "plugins:\n  plugins_dir: " + pluginsDir() + "\n  routes_dir: " + routesDir() +
                        "\n" + extra);
    return path;
}

HostProcess::Options Stage::hostOptions() const {
    HostProcess::Options o;
    o.pluginsDir = pluginsDir();
    o.routesDir = routesDir();
    return o;
}

// ---------------------------------------------------------------- wire

Value control(WireClient& c, const std::string& cmd) {
    Value name = Value::array();
    name.set("name", cmd);
    Value api = Value::array();
    api.set("cmd", name);
    return callV1(c, "SC", api, newGuid());
}

Value serverStats(WireClient& c) {
    Value a = control(c, "getStat");
    const Value* data = a.find("data");
    const Value* server = data ? data->find("server") : nullptr;
    if (!server)
        throw std::runtime_error("getStat answered without data.server: " +
                                 dora::sdk::serialize(a));
    return *server;
}

std::int64_t reloadCount(const Value& stats) {
    const Value* r = stats.find("reloads");
    return r && r->isInt() ? r->asInt() : -1;
}

std::string pluginList(const Value& stats) {
    std::map<std::string, std::string> m;
    if (const Value* p = stats.find("plugins"); p && p->isArray())
        for (const auto& e : p->asArray())
            m[e.key.toString()] = e.value.isString() ? e.value.asString() : "?";
    std::string out;
    for (const auto& [k, v] : m)
        out += (out.empty() ? "" : ",") + k + "=" + v;
    return out;
}

std::string pluginVersion(const Value& stats, const std::string& name) {
    const Value* p = stats.find("plugins");
    const Value* v = p ? p->find(name) : nullptr;
    return v && v->isString() ? v->asString() : "";
}

std::string pluginErrors(const Value& stats) {
    std::string out;
    if (const Value* e = stats.find("plugin_errors"); e && e->isArray())
        for (const auto& x : e->asArray())
            out += (out.empty() ? "" : "\n") + (x.value.isString() ? x.value.asString() : "?");
    return out;
}

Value waitForReloads(WireClient& c, std::int64_t n, int timeoutMs) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    for (;;) {
        Value s = serverStats(c);
        if (reloadCount(s) >= n) return s;
        if (std::chrono::steady_clock::now() > deadline)
            throw std::runtime_error("the host did not finish reload #" + std::to_string(n) +
                                     " in " + std::to_string(timeoutMs) +
                                     " ms (reloads: " + std::to_string(reloadCount(s)) + ")");
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

Answer call(WireClient& c, const std::string& api, const Value& params) {
    Value a = callV1(c, "SSS", oneCall(api, params), newGuid());
    Answer out;
    if (const Value* v = a.find("code"); v && v->isInt()) out.code = v->asInt();
    if (const Value* v = a.find("msg"); v && v->isString()) out.msg = v->asString();
    if (const Value* v = a.find("data")) out.data = *v;
    // v1 answers a handler's error with code 0 and [code, msg, data] in
    // the data slot (PROTOCOL.md); no fixture's result has that shape.
    const Value* code = out.data.find("code");
    const Value* msg = out.data.find("msg");
    if (out.code == 0 && out.data.isArray() && out.data.asArray().size() == 3 && code &&
        code->isInt() && msg && msg->isString() && out.data.find("data")) {
        out.code = code->asInt();
        out.msg = msg->asString();
        Value inner = *out.data.find("data");
        out.data = std::move(inner);
    }
    return out;
}

// ---------------------------------------------------------------- run

namespace {

void drain(int outFd, int errFd, std::string& out, std::string& err) {
    pollfd fds[2] = {{outFd, POLLIN, 0}, {errFd, POLLIN, 0}};
    int open = 2;
    char buf[8192];
    while (open > 0) {
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
            if (n > 0) {
                (i == 0 ? out : err).append(buf, static_cast<std::size_t>(n));
            } else {
                ::close(fds[i].fd);
                fds[i].fd = -1;
                --open;
            }
        }
    }
}

} // namespace

RunResult run(const std::vector<std::string>& argv, const std::string& cwd) {
    int outPipe[2], errPipe[2];
    if (::pipe2(outPipe, O_CLOEXEC) != 0 || ::pipe2(errPipe, O_CLOEXEC) != 0)
        throw std::runtime_error("pipe failed");
    pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(outPipe[1], 1);
        ::dup2(errPipe[1], 2);
        if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) _exit(126);
        std::vector<char*> args;
        for (const auto& a : argv)
            args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execvp(args[0], args.data());
        _exit(127);
    }
    ::close(outPipe[1]);
    ::close(errPipe[1]);
    RunResult r;
    drain(outPipe[0], errPipe[0], r.out, r.err);
    int st = 0;
    ::waitpid(pid, &st, 0);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return r;
}

} // namespace dora::test::lifecycle
