#include "queue/QueueSupport.h"

#include <dora/sdk/serialize.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <stdexcept>
#include <thread>

#include <stdlib.h>

namespace dora::test::queue {

using dora::sdk::Value;

// ------------------------------------------------------------------ Redis

RedisClient::RedisClient() {
    timeval tv{5, 0};
    std::string socket = env("DORAHOST_REDIS_SOCKET");
    _ctx = socket.empty() ? redisConnectWithTimeout("127.0.0.1", 6379, tv)
                          : redisConnectUnixWithTimeout(socket.c_str(), tv);
    if (_ctx == nullptr || _ctx->err) {
        std::string why = _ctx ? _ctx->errstr : "out of memory";
        if (_ctx) redisFree(_ctx);
        _ctx = nullptr;
        throw std::runtime_error("test cannot connect to Redis (" +
                                 (socket.empty() ? std::string("127.0.0.1:6379") : socket) +
                                 "): " + why);
    }
    redisSetTimeout(_ctx, tv);
}

RedisClient::~RedisClient() {
    if (_ctx) redisFree(_ctx);
}

RedisClient::Reply RedisClient::command(const std::vector<std::string>& argv) {
    std::vector<const char*> args;
    std::vector<std::size_t> lens;
    for (const auto& a : argv) {
        args.push_back(a.data());
        lens.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(_ctx, static_cast<int>(args.size()), args.data(), lens.data()));
    if (r == nullptr)
        throw std::runtime_error("Redis command " + argv.at(0) + " failed: " + _ctx->errstr);
    return Reply(r);
}

std::int64_t RedisClient::integer(const std::vector<std::string>& argv) {
    Reply r = command(argv);
    if (r->type != REDIS_REPLY_INTEGER)
        throw std::runtime_error(
            "Redis " + argv.at(0) + ": not an integer reply" +
            (r->type == REDIS_REPLY_ERROR ? ": " + std::string(r->str, r->len) : ""));
    return r->integer;
}

std::int64_t RedisClient::pending(const std::string& stream, const std::string& group) {
    Reply r = command({"XPENDING", stream, group});
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_INTEGER)
        throw std::runtime_error("XPENDING " + stream + ": unexpected reply");
    return r->element[0]->integer;
}

std::int64_t RedisClient::usedMemory() {
    Reply r = command({"INFO", "memory"});
    std::string info(r->str, r->len);
    auto at = info.find("\nused_memory:");
    if (at == std::string::npos) throw std::runtime_error("INFO memory has no used_memory");
    return std::stoll(info.substr(at + 13));
}

std::vector<std::map<std::string, std::string>> RedisClient::range(const std::string& stream) {
    Reply r = command({"XRANGE", stream, "-", "+"});
    std::vector<std::map<std::string, std::string>> out;
    if (r->type != REDIS_REPLY_ARRAY) return out;
    for (std::size_t i = 0; i < r->elements; ++i) {
        const redisReply* e = r->element[i];
        std::map<std::string, std::string> fields;
        fields["id"] = std::string(e->element[0]->str, e->element[0]->len);
        const redisReply* f = e->element[1];
        for (std::size_t k = 0; k + 1 < f->elements; k += 2)
            fields[std::string(f->element[k]->str, f->element[k]->len)] =
                std::string(f->element[k + 1]->str, f->element[k + 1]->len);
        out.push_back(std::move(fields));
    }
    return out;
}

std::string tasksStream(const std::string& q) { return "dora:" + q + ":tasks"; }
std::string deadStream(const std::string& q) { return "dora:" + q + ":dead"; }

StreamCleanup::~StreamCleanup() {
    try {
        RedisClient r;
        r.command({"DEL", tasksStream(_q), deadStream(_q)});
    } catch (const std::exception& e) {
        std::cerr << "cleanup of queue " << _q << ": " << e.what() << std::endl;
    }
}

// ------------------------------------------------------------ PluginDirs

PluginDirs::PluginDirs(std::initializer_list<const char*> fixtures) {
    namespace fs = std::filesystem;
    char tmpl[] = "/tmp/dora-queue-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    _dir = tmpl;
    std::string bd = buildDir();
    fs::create_directories(_dir / "plugins");
    fs::create_directories(_dir / "routes.d");
    for (const auto& e : fs::directory_iterator(bd + "/lib/dorahost/plugins"))
        fs::create_symlink(e.path(), _dir / "plugins" / e.path().filename());
    for (const auto& e : fs::directory_iterator(bd + "/etc/dorahost/routes.d"))
        fs::copy_file(e.path(), _dir / "routes.d" / e.path().filename());
    for (const char* f : fixtures) {
        std::string lib = std::string("lib") + f + ".so";
        fs::create_symlink(bd + "/tests/fixtures/plugins/" + lib, _dir / "plugins" / lib);
        fs::copy_file(bd + "/tests/fixtures/routes.d/" + f + ".yaml",
                      _dir / "routes.d" / (std::string(f) + ".yaml"));
    }
}

PluginDirs::~PluginDirs() {
    std::error_code ec;
    std::filesystem::remove_all(_dir, ec);
}

bool waitFor(const std::function<bool()>& pred, int timeoutMs) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
    for (;;) {
        if (pred()) return true;
        if (Clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

Value queueStat(std::uint16_t port) {
    WireClient c(port);
    Value cmd = Value::array();
    cmd.set("name", "getStat");
    cmd.set("param", Value::array());
    Value api = Value::array();
    api.set("cmd", cmd);
    Value r = callV1(c, "SC", api);
    const Value* q = r.find("data") ? r.find("data")->find("server") : nullptr;
    q = q ? q->find("queue") : nullptr;
    if (!q)
        throw std::runtime_error("getStat has no data.server.queue: " + dora::sdk::serialize(r));
    return *q;
}

std::int64_t statInt(const Value& v, const char* key) {
    const Value* x = v.find(key);
    if (!x || !x->isInt())
        throw std::runtime_error(std::string("getStat queue has no int '") + key + "'");
    return x->asInt();
}

// --------------------------------------------------------------- Pipeline

Pipeline::Pipeline(std::uint16_t port, std::size_t window)
    : _client(std::make_unique<WireClient>(port)), _window(window) {}

std::string Pipeline::guidOf(std::size_t i) {
    char buf[33];
    std::snprintf(buf, sizeof buf, "%032zx", i);
    return buf;
}

std::size_t Pipeline::run(std::size_t from, std::size_t to, const Make& make, const Done& done) {
    std::size_t next = from, inflight = 0;
    try {
        while (next < to || inflight > 0) {
            if (next < to && inflight < _window) {
                std::string out;
                while (next < to && inflight < _window) {
                    out += v1Frame(make(next, guidOf(next)));
                    ++next;
                    ++inflight;
                }
                _client->sendRaw(out);
            }
            Value a = dora::sdk::unserialize(_client->readFrame(20000));
            --inflight;
            const Value* g = a.find("guid");
            const Value* code = a.find("code");
            if (!g || !g->isString() || !code || !code->isInt())
                throw std::logic_error("answer without guid/code: " + dora::sdk::serialize(a));
            const Value* msg = a.find("msg");
            done(std::stoull(g->asString(), nullptr, 16), code->asInt(),
                 msg && msg->isString() ? msg->asString() : std::string());
        }
    } catch (const dora::sdk::DecodeError&) {
        throw;                            // a bad answer is a failure, not a lost connection
    } catch (const std::runtime_error&) { // the host went away
        _broken = true;
    }
    return next;
}

std::string request(const std::string& guid, const std::string& type, const std::string& api,
                    const Value& param) {
    return v1Request(guid, type, oneCall(api, param));
}

Value userParam(const std::string& name, const std::string& department) {
    Value p = Value::array();
    p.set("name", name);
    if (!department.empty()) p.set("department", department);
    return p;
}

double secondsSince(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

} // namespace dora::test::queue
