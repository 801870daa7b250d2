#include "cli/Bench.h"

#include "cli/Commands.h"
#include "cli/Histogram.h"
#include "cli/Verify.h"

#include <dora/client/Client.h>
#include <dora/client/Codec.h>
#include <dora/client/Tls.h>
#include <dora/sdk/serialize.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <mysql.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

namespace dora::cli {

using dora::client::Generation;
using dora::client::Mode;
using dora::client::Result;
using dora::sdk::Value;
namespace code = dora::client::code;

namespace {

const char* const kBenchHelp =
    "usage: dora bench [OPTIONS] [client options]\n"
    "\n"
    "Load generator. One thread drives every connection with epoll.\n"
    "\n"
    "what to drive (default: a Dora server, --server):\n"
    "  --redis-ping ADDR    a Redis server at HOST:PORT or unix:PATH instead: each\n"
    "                       request is a RESP PING, answered +PONG; the same epoll\n"
    "                       loop, connections, -P pipelining and latency histogram\n"
    "                       as the Dora load (a baseline for the echo api)\n"
    "  --mysql-insert       MySQL/MariaDB instead (the --mysql-* options): each\n"
    "                       request is one autocommit single-row INSERT INTO\n"
    "                       TABLE(name, department), with the MariaDB C API's\n"
    "                       non-blocking calls in the same single epoll thread, one\n"
    "                       statement in flight per connection (a baseline for\n"
    "                       add_user); names are <PREFIX><i>\n"
    "  --mysql-table T      --mysql-insert: the table (default users)\n"
    "  --name-prefix P      --mysql-insert: name prefix (default mi<random>_, unique\n"
    "                       per run)\n"
    "\n"
    "what to send (Dora):\n"
    "  --scenario api|seed  api (default): calls from --api; seed: the seed's client,\n"
    "                       one multi call per iteration i with add_user NO<i>,\n"
    "                       insert_user insert<i> and plus_user plus<i>\n"
    "  --api SPEC           api scenario: API[:WEIGHT][,API[:WEIGHT]...] (default echo);\n"
    "                       each call picks one by weight; an echo call's v1/v2 answer\n"
    "                       must be its param, byte for byte (else 100006)\n"
    "  --param [API=]JSON   parameter template for API (or every api); \"{i}\" inside a\n"
    "                       string becomes the call number, a string that is exactly\n"
    "                       \"{i}\" becomes it as an integer. Defaults: echo {\"msg\":\"hello "
    "{i}\"},\n"
    "                       add_user/get_user/update_user "
    "{\"name\":\"NO{i}\",\"department\":\"bench\"},\n"
    "                       insert_user insert{i}, plus_user plus{i}, others {\"i\":\"{i}\"}\n"
    "  --multi K            api scenario: K calls per request, as one multi call (default 1)\n"
    "  --start I            first call number / iteration (default 1)\n"
    "  --mode sync|async|async-result|auto\n"
    "                       sync waits for results; async gets \"accepted\" (SRM/AN_*);\n"
    "                       async-result waits for the pushed result (AM_*); auto (the\n"
    "                       seed's default) tries async and falls back to sync when the\n"
    "                       server refuses async calls (100204/100207). api default: sync\n"
    "  --async              same as --mode async\n"
    "\n"
    "how hard:\n"
    "  -c, --connections N  connections (default 50)\n"
    "  -n, --requests N     requests to send (seed: iterations) (default 10000)\n"
    "  -d, --duration SEC   send for SEC seconds instead of a count\n"
    "  -P, --pipeline D     requests outstanding per connection (default 1): v2 pipelining,\n"
    "                       or v1/JSON requests back to back\n"
    "\n"
    "output:\n"
    "  --progress-sec S     interval of the plain progress lines when stderr is not a\n"
    "                       terminal (default 5; 0: none). On a terminal a live line.\n"
    "  --quiet              no progress output\n"
    "  --json               the summary as one JSON document (cpu_seconds: this\n"
    "                       process's user + system CPU during the run)\n"
    "\n"
    "checking writes (sample plugin table users):\n"
    "  --verify             after the run, check in MySQL that every acknowledged\n"
    "                       add_user/insert_user/plus_user landed (and none twice);\n"
    "                       lists what was lost; exit 1 if anything was\n"
    "  --verify-wait SEC    async writes: give up waiting when the table has not\n"
    "                       changed for SEC seconds (default 30)\n"
    "  --clean              first delete the rows the run will write (by name prefix)\n";

// --------------------------------------------------------------- setup

struct ApiSpec {
    std::string name;
    unsigned weight = 1;
    Value param;     ///< template
    std::string key; ///< multi key in the seed scenario
};

enum class ModeChoice { Sync, Async, AsyncResult, Auto };

/// What the load drives.
enum class Target { Dora, RedisPing, MysqlInsert };

struct BenchOptions {
    ClientFlags client;
    Target target = Target::Dora;
    std::string redisAddress; ///< --redis-ping: HOST:PORT or unix:PATH
    std::string mysqlTable = "users";
    std::string namePrefix; ///< --mysql-insert
    bool seed = false;
    std::vector<ApiSpec> apis;
    unsigned multi = 1;
    ModeChoice mode = ModeChoice::Sync;
    unsigned connections = 50;
    std::uint64_t requests = 10000;
    double duration = 0;
    unsigned pipeline = 1;
    std::int64_t start = 1;
    double progressSec = 5;
    bool quiet = false;
    bool verify = false, clean = false;
    double verifyWait = 30;
    MysqlSettings mysql;
};

Value defaultParam(const std::string& api) {
    auto user = [](const char* prefix) {
        Value v = Value::array();
        v.set("name", std::string(prefix) + "{i}");
        v.set("department", "bench");
        return v;
    };
    if (api == "echo") {
        Value v = Value::array();
        v.set("msg", "hello {i}");
        return v;
    }
    if (api == "add_user" || api == "get_user" || api == "update_user") return user("NO");
    if (api == "insert_user") return user("insert");
    if (api == "plus_user") return user("plus");
    Value v = Value::array();
    v.set("i", "{i}");
    return v;
}

/// Copies the template with "{i}" replaced.
Value instantiate(const Value& t, std::int64_t i, const std::string& is) {
    if (t.isString()) {
        const std::string& s = t.asString();
        if (s == "{i}") return Value(static_cast<long long>(i));
        std::size_t at = s.find("{i}");
        if (at == std::string::npos) return t;
        std::string out;
        std::size_t from = 0;
        while (at != std::string::npos) {
            out.append(s, from, at - from);
            out += is;
            from = at + 3;
            at = s.find("{i}", from);
        }
        out.append(s, from, std::string::npos);
        return Value(std::move(out));
    }
    if (t.isArray()) {
        Value out = Value::array();
        for (const auto& e : t.asArray())
            out.set(e.key, instantiate(e.value, i, is));
        return out;
    }
    return t;
}

/// Appends v in decimal (std::to_chars: no locale, no temporary string).
void appendNumber(std::string& out, std::int64_t v) {
    char buf[24];
    out.append(buf, static_cast<std::size_t>(std::to_chars(buf, buf + sizeof buf, v).ptr - buf));
}

/// v in decimal into buf (at least 24 bytes), as a view of it.
std::string_view formatNumber(char* buf, std::int64_t v) {
    return std::string_view(buf,
                            static_cast<std::size_t>(std::to_chars(buf, buf + 24, v).ptr - buf));
}

/// A parameter template compiled to serialized bytes: literal pieces and
/// the places "{i}" goes, so a request's bytes are spliced, not built as
/// a value and serialized (the load generator's own cost is part of every
/// ratio the bench reports). Renders exactly serialize(instantiate(t, i)).
class SerialTemplate {
public:
    explicit SerialTemplate(const Value& t) { compile(t); }

    void render(std::string& out, std::string_view is) const {
        for (const auto& p : _parts) {
            switch (p.kind) {
            case Part::Literal:
                out += p.text;
                break;
            case Part::Int:
                out += "i:";
                out += is;
                out += ';';
                break;
            case Part::String: {
                // p.pieces joined by the number: its length first.
                std::size_t len = 0;
                for (const auto& piece : p.pieces)
                    len += piece.size();
                len += (p.pieces.size() - 1) * is.size();
                out += "s:";
                appendNumber(out, static_cast<std::int64_t>(len));
                out += ":\"";
                for (std::size_t k = 0; k < p.pieces.size(); ++k) {
                    if (k > 0) out += is;
                    out += p.pieces[k];
                }
                out += "\";";
                break;
            }
            }
        }
    }

private:
    struct Part {
        enum Kind { Literal, Int, String } kind = Literal;
        std::string text;                ///< Literal
        std::vector<std::string> pieces; ///< String: the text around each "{i}"
    };

    void literal(const std::string& bytes) {
        if (_parts.empty() || _parts.back().kind != Part::Literal) _parts.push_back(Part{});
        _parts.back().text += bytes;
    }

    void compile(const Value& t) {
        if (t.isString()) {
            const std::string& s = t.asString();
            if (s == "{i}") {
                _parts.push_back(Part{Part::Int, {}, {}});
                return;
            }
            if (s.find("{i}") == std::string::npos) {
                literal(dora::sdk::serialize(t));
                return;
            }
            Part p{Part::String, {}, {}};
            std::size_t from = 0, at = s.find("{i}");
            while (at != std::string::npos) {
                p.pieces.push_back(s.substr(from, at - from));
                from = at + 3;
                at = s.find("{i}", from);
            }
            p.pieces.push_back(s.substr(from));
            _parts.push_back(std::move(p));
            return;
        }
        if (t.isArray()) {
            literal("a:" + std::to_string(t.asArray().size()) + ":{");
            for (const auto& e : t.asArray()) {
                literal(keyBytes(e.key));
                compile(e.value);
            }
            literal("}");
            return;
        }
        literal(dora::sdk::serialize(t));
    }

public:
    /// A key's serialized bytes, as serialize() writes it inside an array.
    static std::string keyBytes(const dora::sdk::Key& k) {
        Value one = Value::array();
        one.set(k, Value());
        std::string b = dora::sdk::serialize(one); // a:1:{<key>N;}
        return b.substr(5, b.size() - 5 - 3);
    }

private:
    std::vector<Part> _parts;
};

bool isWriteApi(const std::string& api) {
    return api == "add_user" || api == "insert_user" || api == "plus_user";
}

/// Options that make sense only against a Dora server: UsageError if one
/// is given with another target.
void refuseDoraOptions(ArgList& args, const char* target) {
    std::string t(target);
    for (const char* name :
         {"--scenario", "--api", "--param", "--multi", "--start", "--mode", "--verify-wait",
          "--server", "--proto", "--signature", "--salt", "--sign-key", "--retry", "--gzip", "--ca", "--cert", "--key"})
        if (!args.values({name}).empty())
            throw UsageError(std::string(name) + " does not apply to " + t);
    for (const char* name : {"--async", "--verify", "--clean", "--tls"})
        if (args.flag({name})) throw UsageError(std::string(name) + " does not apply to " + t);
}

BenchOptions parseOptions(ArgList& args) {
    BenchOptions o;
    auto redis = args.value({"--redis-ping"});
    bool mysqlInsert = args.flag({"--mysql-insert"});
    auto table = args.value({"--mysql-table"});
    auto prefix = args.value({"--name-prefix"});
    if (redis && mysqlInsert)
        throw UsageError("--redis-ping and --mysql-insert exclude each other");
    if ((table || prefix) && !mysqlInsert)
        throw UsageError(std::string(table ? "--mysql-table" : "--name-prefix") +
                         " applies to --mysql-insert only");
    if (redis) {
        if (redis->empty()) throw UsageError("--redis-ping: give HOST:PORT or unix:PATH");
        if (redis->rfind("unix:", 0) == 0) {
            if (redis->size() == 5) throw UsageError("--redis-ping: unix: needs a socket path");
            if (redis->size() - 5 >= sizeof(sockaddr_un::sun_path))
                throw UsageError("--redis-ping: socket path too long: " + redis->substr(5));
        } else {
            try {
                dora::client::parseServer(*redis);
            } catch (const std::exception& e) {
                throw UsageError("--redis-ping: " + std::string(e.what()));
            }
        }
        refuseDoraOptions(args, "--redis-ping");
        o.target = Target::RedisPing;
        o.redisAddress = *redis;
    } else if (mysqlInsert) {
        refuseDoraOptions(args, "--mysql-insert");
        o.target = Target::MysqlInsert;
        if (table) {
            if (table->empty() ||
                table->find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789_$") != std::string::npos)
                throw UsageError("--mysql-table: '" + *table +
                                 "' is not a plain table name (letters, digits, _ and $)");
            o.mysqlTable = *table;
        }
        if (prefix) {
            if (prefix->find_first_of("'\\\"") != std::string::npos || prefix->size() > 40)
                throw UsageError("--name-prefix: no quotes or backslashes, at most 40 characters");
            o.namePrefix = *prefix;
        } else {
            std::random_device rd;
            char buf[32];
            std::snprintf(buf, sizeof buf, "mi%08x_", rd());
            o.namePrefix = buf;
        }
    }
    std::string scenario = args.value({"--scenario"}).value_or("api");
    if (scenario != "api" && scenario != "seed")
        throw UsageError("--scenario: '" + scenario + "' is not api or seed");
    o.seed = scenario == "seed";
    auto apiSpec = args.value({"--api"});
    if (o.seed && apiSpec) throw UsageError("--api applies to --scenario api only");
    if (o.seed) {
        o.apis = {{"add_user", 1, {}, "add"},
                  {"insert_user", 1, {}, "insert"},
                  {"plus_user", 1, {}, "plus"}};
    } else {
        std::stringstream ss(apiSpec.value_or("echo"));
        std::string item;
        while (std::getline(ss, item, ',')) {
            if (item.empty()) continue;
            ApiSpec a;
            std::size_t colon = item.find(':');
            a.name = item.substr(0, colon);
            if (colon != std::string::npos)
                a.weight = static_cast<unsigned>(
                    parseInt("--api weight", item.substr(colon + 1), 1, 1000000));
            if (a.name.empty()) throw UsageError("--api: empty api name in '" + item + "'");
            o.apis.push_back(a);
        }
        if (o.apis.empty()) throw UsageError("--api: no api given");
    }
    for (auto& a : o.apis)
        a.param = defaultParam(a.name);
    for (const auto& p : args.values({"--param"})) {
        std::string api, json = p;
        std::size_t eq = p.find('=');
        if (eq != std::string::npos && p[0] != '{' && p[0] != '[') {
            api = p.substr(0, eq);
            json = p.substr(eq + 1);
        }
        Value v;
        try {
            v = dora::client::fromJson(json);
        } catch (const std::exception& e) {
            throw UsageError(std::string("--param: ") + e.what());
        }
        bool used = false;
        for (auto& a : o.apis)
            if (api.empty() || a.name == api) {
                a.param = v;
                used = true;
            }
        if (!used) throw UsageError("--param: no api '" + api + "' in this run");
    }
    if (auto m = args.value({"--multi"})) {
        if (o.seed) throw UsageError("--multi applies to --scenario api only");
        o.multi = static_cast<unsigned>(parseInt("--multi", *m, 1, 100));
    }
    o.mode = o.seed ? ModeChoice::Auto : ModeChoice::Sync;
    if (args.flag({"--async"})) o.mode = ModeChoice::Async;
    if (auto m = args.value({"--mode"})) {
        if (*m == "sync")
            o.mode = ModeChoice::Sync;
        else if (*m == "async")
            o.mode = ModeChoice::Async;
        else if (*m == "async-result")
            o.mode = ModeChoice::AsyncResult;
        else if (*m == "auto")
            o.mode = ModeChoice::Auto;
        else
            throw UsageError("--mode: '" + *m + "' is not sync, async, async-result or auto");
    }
    if (auto c = args.value({"-c", "--connections"}))
        o.connections = static_cast<unsigned>(parseInt("--connections", *c, 1, 10000));
    if (auto n = args.value({"-n", "--requests"}))
        o.requests = static_cast<std::uint64_t>(parseInt("--requests", *n, 1, 1000000000000));
    if (auto d = args.value({"-d", "--duration"})) {
        o.duration = parseDouble("--duration", *d, 0.001);
        o.requests = 0;
    }
    if (auto p = args.value({"-P", "--pipeline"}))
        o.pipeline = static_cast<unsigned>(parseInt("--pipeline", *p, 1, 1000));
    if (auto s = args.value({"--start"}))
        o.start = parseInt("--start", *s, -1000000000000, 1000000000000);
    if (auto s = args.value({"--progress-sec"}))
        o.progressSec = parseDouble("--progress-sec", *s, 0);
    o.quiet = args.flag({"--quiet", "-q"});
    o.verify = args.flag({"--verify"});
    o.clean = args.flag({"--clean"});
    if (auto w = args.value({"--verify-wait"})) o.verifyWait = parseDouble("--verify-wait", *w, 0);
    o.mysql = takeMysqlFlags(args);
    o.client = takeClientFlags(args);
    auto pos = args.positional();
    if (!pos.empty()) throw UsageError("unexpected argument '" + pos.front() + "'");
    if (o.target == Target::MysqlInsert && o.pipeline > 1)
        throw UsageError("--pipeline applies to Dora and --redis-ping loads (MySQL runs one "
                         "statement at a time per connection)");
    if (o.target != Target::Dora) return o;
    if (o.mode == ModeChoice::AsyncResult && o.client.options.generation == Generation::V1)
        throw UsageError("--mode async-result needs --proto v2 or json (v1 has no AM_* modes)");
    return o;
}

// --------------------------------------------------------------- stats

struct ErrorCount {
    std::uint64_t requests = 0, calls = 0;
    std::string sample; ///< the first message seen
};

struct Stats {
    std::uint64_t sent = 0, done = 0, okRequests = 0, failedRequests = 0;
    std::uint64_t calls = 0, okCalls = 0, failedCalls = 0;
    std::uint64_t connectFailures = 0, strays = 0;
    std::map<int, ErrorCount> errors;
    Histogram latency;
    double seconds = 0;
    double cpuSeconds = 0; ///< of this process during the run (user + system)
    std::string modeUsed;
    std::string note;
};

std::atomic<bool> gInterrupted{false};

extern "C" void onInterrupt(int) {
    gInterrupted.store(true);
    ::signal(SIGINT, SIG_DFL); // a second Ctrl-C ends at once
}

std::int64_t nowNs() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

std::string withCommas(std::uint64_t v) {
    std::string s = std::to_string(v);
    for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3)
        s.insert(static_cast<std::size_t>(i), ",");
    return s;
}

std::string ms(std::uint64_t micros) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f ms", static_cast<double>(micros) / 1000.0);
    return buf;
}

// -------------------------------------------------------------- engine

/// One epoll thread driving every connection.
class Engine {
public:
    Engine(const BenchOptions& o, Stats& stats, std::vector<WriteSet>& writes,
           std::vector<int> writeOf)
        : _o(o), _s(stats), _writes(writes), _writeOf(std::move(writeOf)),
          _gen(o.client.options.generation), _wire(o.client.options.wire),
          _redis(o.target == Target::RedisPing) {
        _mode = o.mode == ModeChoice::Sync          ? Mode::Sync
                : o.mode == ModeChoice::AsyncResult ? Mode::AsyncResult
                                                    : Mode::Async;
        _probing = o.mode == ModeChoice::Auto;
        std::random_device rd;
        std::uint64_t prefix = (std::uint64_t(rd()) << 32) ^ rd() ^ std::uint64_t(::getpid());
        static const char* hex = "0123456789abcdef";
        for (int k = 0; k < 16; ++k)
            _guidPrefix[k] = hex[(prefix >> (4 * k)) & 0xf];
        std::uint64_t weights = 0;
        for (const auto& a : o.apis)
            weights += a.weight;
        _totalWeight = weights;
        _multi = o.seed || o.multi > 1;
        if (o.client.options.tls.enabled && !_redis) {
            _tls = std::make_unique<dora::client::TlsContext>(o.client.options.tls);
            // This loop reads until WANT_READ, so OpenSSL may read ahead:
            // one read() per burst of records instead of two per record.
            SSL_CTX_set_read_ahead(_tls->get(), 1);
        }
        // Each api's ["name" => .., "param" => ..] as serialized bytes
        // around the compiled param template.
        for (const auto& a : o.apis) {
            Compiled c{"a:2:{" + SerialTemplate::keyBytes("name") + dora::sdk::serialize(Value(a.name)) +
                           SerialTemplate::keyBytes("param"),
                       SerialTemplate(a.param),
                       a.key.empty() ? std::string() : SerialTemplate::keyBytes(dora::sdk::Key(a.key))};
            _compiled.push_back(std::move(c));
            _isEcho.push_back(!o.seed && a.name == "echo");
        }
        // The per-call keys and the api array's head, once: the request
        // path then only copies bytes and formats call numbers.
        for (unsigned j = 0; j < o.multi; ++j)
            for (const auto& c : _compiled)
                _callHeads.push_back(
                    (_multi ? SerialTemplate::keyBytes(dora::sdk::Key("k" + std::to_string(j)))
                            : SerialTemplate::keyBytes(dora::sdk::Key("one"))) +
                    c.head);
        _apiHead = "a:" + std::to_string(o.seed ? _compiled.size() : std::size_t(o.multi)) + ":{";
        for (const auto& a : o.apis)
            _seedKeys.emplace_back(a.key);
    }

    void run();

private:
    struct Inflight {
        char guid[32];
        std::uint64_t req = 0;
        std::int64_t sentNs = 0;
        Mode mode = Mode::Sync;
        bool accepted = false;
    };
    /// Where connections go: resolved once, before the run.
    struct Endpoint {
        sockaddr_storage addr{};
        socklen_t len = 0;
        bool tcp = true;
        std::string name;
        std::string host; ///< what the TLS certificate must name
    };
    struct Conn {
        int fd = -1;
        SSL* ssl = nullptr;     ///< --tls
        bool handshaking = false; ///< connected, TLS handshake under way (still `connecting`)
        std::size_t server = 0;
        bool connecting = false, up = false, wantWrite = false;
        std::string out, in;
        std::size_t outPos = 0, inPos = 0;
        std::vector<Inflight> inflight;
        std::int64_t reconnectAt = 0;
    };

    void resolve();
    bool haveWork() const { return haveWork(nowNs()); }
    /// As haveWork() with the time already read (one clock read per fill).
    bool haveWork(std::int64_t now) const;
    bool finished() const;
    std::size_t inflightTotal() const;
    void open(Conn& c);
    void close(Conn& c, int failCode, const std::string& why);
    void watch(Conn& c, bool write);
    void fill(Conn& c);
    void flush(Conn& c);
    void readable(Conn& c);
    /// --tls: one handshake step; the connection is up once it completes.
    void handshake(Conn& c);
    bool takeAnswers(Conn& c);
    /// The lean reader's common answer (in flight, accepted or all calls
    /// ok), counted as answer() + complete() count it; false, with nothing
    /// counted, for anything else (the value path reads the same bytes).
    bool answerFast(Conn& c, const dora::client::AnswerView& v);
    void redisReply(Conn& c, bool ok, std::string_view text);
    /// split: r.calls already holds every call's outcome (the lean reader).
    void answer(Conn& c, Result&& r, Generation gen, bool split);
    void complete(const Inflight& f, Result& r, Generation gen, std::int64_t at, bool split);
    void fail(int failCode, const std::string& why);
    void ack(std::uint64_t req, std::size_t callIndex);
    void buildRequest(std::uint64_t req, Mode mode, Inflight& f, std::string& out);
    bool buildFast(std::uint64_t req, Mode mode, Inflight& f, std::string& out);
    void buildSlow(std::uint64_t req, Mode mode, Inflight& f, std::string& out);
    std::size_t slotOf(std::int64_t callNo) const;
    std::size_t callsPer() const { return _o.seed ? _o.apis.size() : _o.multi; }
    void tick(std::int64_t now);
    void progress(std::int64_t now, bool final);

    const BenchOptions& _o;
    Stats& _s;
    std::vector<WriteSet>& _writes;
    std::vector<int> _writeOf; ///< api slot -> index in _writes, or -1
    Generation _gen;
    dora::client::WireOptions _wire;
    std::unique_ptr<dora::client::TlsContext> _tls; ///< --tls
    bool _redis = false; ///< --redis-ping: RESP PING instead of Dora requests
    std::vector<Endpoint> _endpoints;
    Mode _mode;
    bool _probing = false;
    bool _multi = false;
    struct Compiled {
        std::string head; ///< a:2:{ "name" => api, "param" =>
        SerialTemplate param;
        std::string seedKey; ///< the seed's multi key, serialized
    };
    std::vector<Compiled> _compiled; ///< per api, as _o.apis
    /// The first request is built both ways and compared: a difference
    /// means the compiled form is wrong, and the value path is used.
    bool _fastChecked = false, _fast = true;
    std::string _echoed;       ///< scratch: the param an echo call must answer with
    std::vector<bool> _isEcho; ///< per api: the echo api (its answer must be its param)
    /// Per call j of a request and api slot k, [j * apis + k]: the call's
    /// key and its ["name" => .., "param" => head, serialized.
    std::vector<std::string> _callHeads;
    std::vector<dora::sdk::Key> _seedKeys; ///< per api: the seed's multi key
    std::string _apiHead;                  ///< "a:N:{" of the api array
    dora::client::AnswerView _view;        ///< scratch: the answer being read
    std::int64_t _readNs = 0;              ///< when the answers being read were in
    std::uint64_t _totalWeight = 1;
    char _guidPrefix[16];
    std::uint64_t _guidCounter = 0;

    int _ep = -1;
    std::vector<Conn> _conns;
    std::uint64_t _next = 0;          ///< next new request number
    std::deque<std::uint64_t> _again; ///< requests to send again (the auto probe)
    std::int64_t _startNs = 0, _endNs = 0, _deadlineNs = 0, _lastUpNs = 0;
    bool _everUp = false;
    bool _stopIssuing = false;
    std::string _fatal;
    std::int64_t _lastProgressNs = 0;
    std::uint64_t _lastProgressDone = 0;
    bool _tty = false;
    bool _progressShown = false;
};

std::size_t Engine::slotOf(std::int64_t callNo) const {
    if (_o.apis.size() == 1) return 0;
    // splitmix64: a fixed, well-spread pick per call number.
    std::uint64_t z = static_cast<std::uint64_t>(callNo) + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    std::uint64_t w = z % _totalWeight;
    for (std::size_t k = 0; k < _o.apis.size(); ++k) {
        if (w < _o.apis[k].weight) return k;
        w -= _o.apis[k].weight;
    }
    return 0;
}

void Engine::buildRequest(std::uint64_t req, Mode mode, Inflight& f, std::string& out) {
    if (_redis) {
        // Answers come back in order: no id to match them by.
        f.req = req;
        f.mode = mode;
        f.accepted = false;
        out.append("*1\r\n$4\r\nPING\r\n", 14);
        return;
    }
    static const char* hex = "0123456789abcdef";
    std::memcpy(f.guid, _guidPrefix, 16);
    std::uint64_t n = ++_guidCounter;
    for (int k = 0; k < 16; ++k)
        f.guid[31 - k] = hex[(n >> (4 * k)) & 0xf];
    f.req = req;
    f.mode = mode;
    f.accepted = false;
    const std::size_t before = out.size();
    if (_fast && buildFast(req, mode, f, out)) {
        if (_fastChecked) return;
        // Once: the value path must give the same bytes.
        std::string fast = out.substr(before), slow;
        buildSlow(req, mode, f, slow);
        _fastChecked = true;
        if (fast == slow) return;
        _fast = false;
        out.resize(before);
        out += slow;
        return;
    }
    buildSlow(req, mode, f, out);
}

bool Engine::buildFast(std::uint64_t req, Mode mode, Inflight& f, std::string& out) {
    // The api array goes straight into the frame: literal pieces compiled
    // once, the call numbers formatted in place.
    const std::size_t start = dora::client::beginSerializedRequest(
        out, _gen, std::string_view(f.guid, 32), dora::client::typeName(_gen, mode, _multi), _wire);
    if (start == std::string::npos) return false;
    out += _apiHead;
    char num[24];
    if (_o.seed) {
        std::string_view is = formatNumber(num, _o.start + static_cast<std::int64_t>(req));
        for (const auto& c : _compiled) {
            out += c.seedKey;
            out += c.head;
            c.param.render(out, is);
            out += '}';
        }
    } else {
        for (unsigned j = 0; j < _o.multi; ++j) {
            std::int64_t c = _o.start + static_cast<std::int64_t>(req * _o.multi + j);
            const std::size_t slot = slotOf(c);
            out += _callHeads[j * _compiled.size() + slot];
            _compiled[slot].param.render(out, formatNumber(num, c));
            out += '}';
        }
    }
    out += '}';
    dora::client::finishSerializedRequest(out, start, _gen, _wire);
    return true;
}

void Engine::buildSlow(std::uint64_t req, Mode mode, Inflight& f, std::string& out) {
    Value api = Value::array();
    if (_o.seed) {
        std::int64_t i = _o.start + static_cast<std::int64_t>(req);
        std::string is = std::to_string(i);
        for (const auto& a : _o.apis) {
            Value call = Value::array();
            call.set("name", a.name);
            call.set("param", instantiate(a.param, i, is));
            api.set(a.key, std::move(call));
        }
    } else {
        for (unsigned j = 0; j < _o.multi; ++j) {
            std::int64_t c = _o.start + static_cast<std::int64_t>(req * _o.multi + j);
            const ApiSpec& a = _o.apis[slotOf(c)];
            Value call = Value::array();
            call.set("name", a.name);
            call.set("param", instantiate(a.param, c, std::to_string(c)));
            api.set(_multi ? dora::sdk::Key("k" + std::to_string(j)) : dora::sdk::Key("one"),
                    std::move(call));
        }
    }
    dora::client::appendRequest(out, _gen, std::string_view(f.guid, 32),
                                dora::client::typeName(_gen, mode, _multi), api, _wire);
}

bool Engine::haveWork(std::int64_t now) const {
    if (_stopIssuing || !_fatal.empty()) return false;
    if (!_again.empty()) return true;
    if (_probing) return _next == 0;
    if (_o.requests > 0) return _next < _o.requests;
    return now < _deadlineNs;
}

std::size_t Engine::inflightTotal() const {
    std::size_t n = 0;
    for (const auto& c : _conns)
        n += c.inflight.size();
    return n;
}

bool Engine::finished() const {
    if (!_fatal.empty()) return true;
    if (inflightTotal() > 0 || !_again.empty()) return false;
    if (_stopIssuing) return true;
    if (_o.requests > 0) return _next >= _o.requests && !_probing;
    return nowNs() >= _deadlineNs;
}

void Engine::watch(Conn& c, bool write) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | (write ? EPOLLOUT : 0u);
    ev.data.ptr = &c;
    ::epoll_ctl(_ep, EPOLL_CTL_MOD, c.fd, &ev);
    c.wantWrite = write;
}

void Engine::resolve() {
    if (_redis && _o.redisAddress.rfind("unix:", 0) == 0) {
        Endpoint e;
        auto* un = reinterpret_cast<sockaddr_un*>(&e.addr);
        un->sun_family = AF_UNIX;
        std::string path = _o.redisAddress.substr(5);
        std::memcpy(un->sun_path, path.data(), path.size()); // length checked by the options
        e.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
        e.tcp = false;
        e.name = _o.redisAddress;
        _endpoints.push_back(e);
        return;
    }
    std::vector<dora::client::Server> servers = _o.client.options.servers;
    if (_redis) servers = {dora::client::parseServer(_o.redisAddress)};
    for (const auto& s : servers) {
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        addrinfo* res = nullptr;
        int rc = ::getaddrinfo(s.host.c_str(), std::to_string(s.port).c_str(), &hints, &res);
        if (rc != 0 || !res) {
            _fatal = "cannot resolve " + s.toString() + ": " + gai_strerror(rc);
            return;
        }
        Endpoint e;
        std::memcpy(&e.addr, res->ai_addr, res->ai_addrlen);
        e.len = res->ai_addrlen;
        e.name = s.toString();
        e.host = s.host;
        ::freeaddrinfo(res);
        _endpoints.push_back(e);
    }
}

void Engine::open(Conn& c) {
    const Endpoint& e = _endpoints[c.server % _endpoints.size()];
    int fd = ::socket(e.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        _fatal = std::string("socket: ") + std::strerror(errno);
        return;
    }
    int one = 1;
    if (e.tcp) ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int r = ::connect(fd, reinterpret_cast<const sockaddr*>(&e.addr), e.len);
    int connectErrno = errno;
    c.fd = fd;
    c.out.clear();
    c.in.clear();
    c.outPos = c.inPos = 0;
    c.up = false;
    c.connecting = true;
    c.reconnectAt = nowNs(); // when this attempt started, for its timeout
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
    ev.data.ptr = &c;
    ::epoll_ctl(_ep, EPOLL_CTL_ADD, fd, &ev);
    c.wantWrite = true;
    // A unix socket whose backlog is full says EAGAIN: retried like a refusal.
    if (r != 0 && connectErrno != EINPROGRESS)
        close(c, code::kNoServer,
              "cannot connect to " + e.name + ": " + std::strerror(connectErrno));
}

void Engine::fail(int failCode, const std::string& why) {
    ++_s.done;
    ++_s.failedRequests;
    _s.failedCalls += callsPer();
    _s.calls += callsPer();
    auto& e = _s.errors[failCode];
    ++e.requests;
    if (e.sample.empty()) e.sample = why;
}

void Engine::close(Conn& c, int failCode, const std::string& why) {
    if (c.ssl) {
        SSL_free(c.ssl);
        ERR_clear_error();
        c.ssl = nullptr;
        c.handshaking = false;
    }
    if (c.fd >= 0) {
        ::epoll_ctl(_ep, EPOLL_CTL_DEL, c.fd, nullptr);
        ::close(c.fd);
    }
    if (c.connecting) {
        ++_s.connectFailures;
        // Every connection has tried every server and none ever answered.
        if (!_everUp && _s.connectFailures >= _conns.size() * _endpoints.size() && _fatal.empty())
            _fatal = why;
    }
    for (std::size_t k = 0; k < c.inflight.size(); ++k)
        fail(failCode, why);
    c.inflight.clear();
    c.fd = -1;
    c.up = c.connecting = false;
    // Try the next server after a pause (failover for the load, too).
    c.server += 1;
    c.reconnectAt = nowNs() + 200'000'000;
}

void Engine::fill(Conn& c) {
    if (!c.up) return;
    // One clock read for the burst: every request of it goes out in the
    // same send().
    const std::int64_t now = nowNs();
    while (c.inflight.size() < _o.pipeline && haveWork(now)) {
        std::uint64_t req;
        if (!_again.empty()) {
            req = _again.front();
            _again.pop_front();
        } else {
            req = _next++;
        }
        Inflight f;
        Mode mode = _mode;
        buildRequest(req, mode, f, c.out);
        f.sentNs = now;
        c.inflight.push_back(f);
        ++_s.sent;
    }
    flush(c);
}

void Engine::flush(Conn& c) {
    while (c.ssl && c.outPos < c.out.size()) {
        int n = SSL_write(c.ssl, c.out.data() + c.outPos, static_cast<int>(c.out.size() - c.outPos));
        if (n > 0) {
            c.outPos += static_cast<std::size_t>(n);
            continue;
        }
        int e = SSL_get_error(c.ssl, n);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
            if (!c.wantWrite) watch(c, true);
            return;
        }
        close(c, code::kClosedEarly, "send failed: TLS: " + dora::client::tlsFailure(nullptr));
        return;
    }
    while (c.outPos < c.out.size()) {
        ssize_t n = ::send(c.fd, c.out.data() + c.outPos, c.out.size() - c.outPos, MSG_NOSIGNAL);
        if (n > 0) {
            c.outPos += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c.wantWrite) watch(c, true);
            return;
        }
        close(c, code::kClosedEarly, std::string("send failed: ") + std::strerror(errno));
        return;
    }
    c.out.clear();
    c.outPos = 0;
    if (c.wantWrite) watch(c, false);
}

void Engine::ack(std::uint64_t req, std::size_t callIndex) {
    std::size_t slot;
    std::int64_t off;
    if (_o.seed) {
        slot = callIndex;
        off = static_cast<std::int64_t>(req);
    } else {
        off = static_cast<std::int64_t>(req * _o.multi + callIndex);
        slot = slotOf(_o.start + off);
    }
    if (slot >= _writeOf.size() || _writeOf[slot] < 0) return;
    auto& acked = _writes[static_cast<std::size_t>(_writeOf[slot])].acked;
    auto at = static_cast<std::size_t>(off);
    if (at >= acked.size()) acked.resize(std::max(at + 1, acked.size() * 2), 0);
    acked[at] = 1;
}

void Engine::complete(const Inflight& f, Result& r, Generation gen, std::int64_t at, bool split) {
    std::size_t calls = callsPer();
    if (_probing && f.mode != Mode::Sync &&
        (r.code == 100204 || r.code == 100207 || r.code == code::kAccepted || r.code == 0)) {
        _probing = false;
        if (r.code == 100204 || r.code == 100207) {
            // The server does not take async calls (yet): run the scenario
            // synchronously; this request was refused, not run, so send it again.
            _s.note =
                "async refused (" + std::to_string(r.code) + " " + r.msg + "): ran in sync mode";
            _mode = Mode::Sync;
            _again.push_back(f.req);
            return;
        }
    }
    _probing = false;
    ++_s.done;
    _s.calls += calls;
    _s.latency.record(static_cast<std::uint64_t>((at - f.sentNs) / 1000));
    if (r.code == code::kAccepted && f.mode == Mode::Async) {
        ++_s.okRequests;
        _s.okCalls += calls;
        for (std::size_t k = 0; k < calls; ++k)
            ack(f.req, k);
        return;
    }
    if (r.code != code::kOk) {
        ++_s.failedRequests;
        _s.failedCalls += calls;
        auto& e = _s.errors[r.code];
        ++e.requests;
        if (e.sample.empty()) e.sample = r.msg;
        return;
    }
    if (!split) dora::client::splitCalls(r, gen, _multi);
    bool allOk = true;
    for (std::size_t k = 0; k < r.calls.size(); ++k) {
        const auto& c = r.calls[k];
        if (c.code == 0) {
            ++_s.okCalls;
            std::size_t idx = k;
            if (_o.seed) {
                for (std::size_t s = 0; s < _o.apis.size(); ++s)
                    if (c.key == dora::sdk::Key(_o.apis[s].key)) idx = s;
            } else if (_multi && !c.key.isInt() && c.key.stringValue().size() > 1) {
                idx = static_cast<std::size_t>(std::atoll(c.key.stringValue().c_str() + 1));
            }
            ack(f.req, idx);
        } else {
            allOk = false;
            ++_s.failedCalls;
            auto& e = _s.errors[c.code];
            ++e.calls;
            if (e.sample.empty()) e.sample = c.msg;
        }
    }
    if (r.calls.size() < calls) {
        allOk = false;
        _s.failedCalls += calls - r.calls.size();
        auto& e = _s.errors[code::kBadAnswer];
        e.calls += calls - r.calls.size();
        if (e.sample.empty()) e.sample = "answer has fewer calls than the request";
    }
    if (allOk)
        ++_s.okRequests;
    else
        ++_s.failedRequests;
}

void Engine::answer(Conn& c, Result&& r, Generation gen, bool split) {
    std::int64_t at = nowNs();
    std::size_t k = 0;
    for (; k < c.inflight.size(); ++k)
        if (r.guid.size() == 32 && std::memcmp(c.inflight[k].guid, r.guid.data(), 32) == 0) break;
    if (k == c.inflight.size() && r.guid.empty() && r.code != code::kOk) {
        // The server could not read the request's guid: the oldest unanswered one.
        for (k = 0; k < c.inflight.size() && c.inflight[k].accepted; ++k) {
        }
    }
    if (k == c.inflight.size()) {
        ++_s.strays;
        auto& e = _s.errors[code::kGuidMismatch];
        if (e.sample.empty()) e.sample = "answer for unknown guid '" + r.guid + "'";
        return;
    }
    Inflight& f = c.inflight[k];
    if (f.mode == Mode::AsyncResult && !f.accepted && !r.isResult && r.code == code::kAccepted) {
        f.accepted = true; // the result is pushed later on this connection
        return;
    }
    Inflight done = f;
    c.inflight.erase(c.inflight.begin() + static_cast<std::ptrdiff_t>(k));
    complete(done, r, gen, at, split);
}

bool Engine::answerFast(Conn& c, const dora::client::AnswerView& v) {
    if (_probing || v.guid.size() != 32) return false;
    std::size_t k = 0;
    for (; k < c.inflight.size(); ++k)
        if (std::memcmp(c.inflight[k].guid, v.guid.data(), 32) == 0) break;
    if (k == c.inflight.size()) return false;
    Inflight& f = c.inflight[k];
    if (f.mode == Mode::AsyncResult && !f.accepted && !v.isResult && v.code == code::kAccepted) {
        f.accepted = true; // the result is pushed later on this connection
        return true;
    }
    const std::size_t calls = callsPer();
    const bool accepted = v.code == code::kAccepted && f.mode == Mode::Async;
    if (!accepted) {
        if (v.code != code::kOk || v.calls.size() < calls) return false;
        for (const auto& cv : v.calls)
            if (cv.code != 0) return false;
    }
    const std::int64_t at = _readNs;
    const Inflight done = f;
    c.inflight.erase(c.inflight.begin() + static_cast<std::ptrdiff_t>(k));
    ++_s.done;
    _s.calls += calls;
    _s.latency.record(static_cast<std::uint64_t>((at - done.sentNs) / 1000));
    if (accepted) {
        ++_s.okRequests;
        _s.okCalls += calls;
        for (std::size_t j = 0; j < calls; ++j)
            ack(done.req, j);
        return true;
    }
    bool allOk = true;
    char num[24];
    for (std::size_t j = 0; j < v.calls.size(); ++j) {
        const auto& cv = v.calls[j];
        std::size_t idx = j;
        if (_o.seed) {
            const dora::sdk::Key key =
                cv.keyIsInt ? dora::sdk::Key(cv.keyInt) : dora::sdk::Key(cv.key);
            for (std::size_t s = 0; s < _seedKeys.size(); ++s)
                if (key == _seedKeys[s]) idx = s;
        } else if (_multi && !cv.keyIsInt && cv.key.size() > 1) {
            std::int64_t n = 0;
            if (!dora::sdk::Key::isCanonicalInt(cv.key, n)) {
                // As std::atoll of the text after the first character.
                std::string digits(cv.key.substr(1));
                idx = static_cast<std::size_t>(std::atoll(digits.c_str()));
            }
        }
        // (Only where the compiled template was checked against the value
        // path: then the param sent is exactly what render() gives.)
        if (!_o.seed && idx < _o.multi && _fastChecked && _fast) {
            // An echo call answers with the very param bytes it was sent.
            std::int64_t no = _o.start + static_cast<std::int64_t>(done.req * _o.multi + idx);
            std::size_t slot = slotOf(no);
            if (_isEcho[slot]) {
                _echoed.clear();
                _compiled[slot].param.render(_echoed, formatNumber(num, no));
                if (cv.data != _echoed) {
                    allOk = false;
                    ++_s.failedCalls;
                    auto& e = _s.errors[code::kBadAnswer];
                    ++e.calls;
                    if (e.sample.empty())
                        e.sample = "echo answered other data than its param: '" +
                                   std::string(cv.data.substr(0, 80)) + "' for '" +
                                   _echoed.substr(0, 80) + "'";
                    continue;
                }
            }
        }
        ++_s.okCalls;
        ack(done.req, idx);
    }
    if (allOk)
        ++_s.okRequests;
    else
        ++_s.failedRequests;
    return true;
}

void Engine::redisReply(Conn& c, bool ok, std::string_view text) {
    std::int64_t at = nowNs();
    if (c.inflight.empty()) {
        ++_s.strays;
        auto& e = _s.errors[code::kGuidMismatch];
        if (e.sample.empty()) e.sample = "reply with no PING outstanding: " + std::string(text);
        return;
    }
    Inflight f = c.inflight.front();
    c.inflight.erase(c.inflight.begin());
    ++_s.done;
    ++_s.calls;
    _s.latency.record(static_cast<std::uint64_t>((at - f.sentNs) / 1000));
    if (ok) {
        ++_s.okRequests;
        ++_s.okCalls;
        return;
    }
    ++_s.failedRequests;
    ++_s.failedCalls;
    auto& e = _s.errors[code::kBadAnswer];
    ++e.requests;
    if (e.sample.empty()) e.sample = "Redis answered " + std::string(text);
}

/// Handles every complete answer in c.in; false when the connection was
/// closed because an answer could not be read.
bool Engine::takeAnswers(Conn& c) {
    // Every answer in this batch was in by now (one clock read for them).
    _readNs = nowNs();
    for (;;) {
        std::string_view avail(c.in.data() + c.inPos, c.in.size() - c.inPos);
        if (_redis) {
            // PING answers "+PONG\r\n"; an error is "-ERR ...\r\n". A reply
            // may arrive split across reads.
            if (avail.empty()) return true;
            std::size_t eol = avail.find("\r\n");
            if (eol == std::string_view::npos) {
                if (avail.size() > 4096 || (avail[0] != '+' && avail[0] != '-')) break;
                return true;
            }
            std::string_view line = avail.substr(0, eol);
            if (line[0] != '+' && line[0] != '-') break;
            c.inPos += eol + 2;
            redisReply(c, line == "+PONG", line);
            continue;
        }
        std::size_t used = 0;
        std::string err;
        bool lean = false;
        auto st = dora::client::scanAnswer(avail, _wire, _multi, _view, used, err, lean);
        if (st == dora::client::TakeStatus::Ok && lean && answerFast(c, _view)) {
            c.inPos += used;
            continue;
        }
        if (st == dora::client::TakeStatus::NeedMore) return true;
        if (st == dora::client::TakeStatus::Bad) {
            close(c, code::kBadAnswer, err);
            return false;
        }
        // Not the common answer: the Result paths, on the same bytes.
        Result r;
        Generation gen = _gen;
        st = dora::client::takeAnswerOutcome(avail, _wire, _multi, r, gen, used, err, lean);
        if (st == dora::client::TakeStatus::Ok && !lean)
            st = dora::client::takeAnswer(avail, _wire, r, gen, used, err);

        if (st == dora::client::TakeStatus::NeedMore) return true;
        if (st == dora::client::TakeStatus::Bad) {
            close(c, code::kBadAnswer, err);
            return false;
        }
        c.inPos += used;
        answer(c, std::move(r), gen, lean);
    }
    std::string_view bad(c.in.data() + c.inPos, std::min<std::size_t>(c.in.size() - c.inPos, 40));
    close(c, code::kBadAnswer, "not a RESP PING reply: '" + std::string(bad) + "'");
    return false;
}

void Engine::handshake(Conn& c) {
    int r = SSL_connect(c.ssl);
    if (r == 1) {
        c.handshaking = false;
        c.connecting = false;
        c.up = _everUp = true;
        watch(c, false);
        fill(c);
        return;
    }
    int e = SSL_get_error(c.ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        bool w = e == SSL_ERROR_WANT_WRITE;
        if (w != c.wantWrite) watch(c, w);
        return;
    }
    std::string why = dora::client::tlsFailure(c.ssl);
    close(c, code::kNoServer, "TLS handshake with " + _endpoints[c.server % _endpoints.size()].name + " failed: " + why);
}

void Engine::readable(Conn& c) {
    char buf[65536];
    while (c.ssl) {
        int n = SSL_read(c.ssl, buf, sizeof buf);
        if (n > 0) {
            c.in.append(buf, static_cast<std::size_t>(n));
            continue;
        }
        int e = SSL_get_error(c.ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) break;
        std::string why = e == SSL_ERROR_ZERO_RETURN ? std::string("connection closed by the server")
                                                     : "receive failed: TLS: " + dora::client::tlsFailure(nullptr);
        ERR_clear_error();
        if (takeAnswers(c)) close(c, code::kClosedEarly, why);
        return;
    }
    for (; !c.ssl;) {
        ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
        if (n > 0) {
            c.in.append(buf, static_cast<std::size_t>(n));
            if (static_cast<std::size_t>(n) < sizeof buf) break;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        // Answers already read still count; then the rest fail.
        std::string why = n == 0 ? "connection closed by the server"
                                 : std::string("receive failed: ") + std::strerror(errno);
        if (takeAnswers(c)) close(c, code::kClosedEarly, why);
        return;
    }
    if (!takeAnswers(c)) return;
    if (c.inPos == c.in.size()) {
        c.in.clear();
        c.inPos = 0;
    } else if (c.inPos > 65536) {
        c.in.erase(0, c.inPos);
        c.inPos = 0;
    }
    fill(c);
}

void Engine::progress(std::int64_t now, bool final) {
    if (_o.quiet) return;
    double elapsed = static_cast<double>(now - _startNs) / 1e9;
    double interval = static_cast<double>(now - _lastProgressNs) / 1e9;
    double want = _tty ? 0.25 : _o.progressSec;
    if (!final && (want <= 0 || interval < want)) return;
    if (final && !_tty) return;
    double rate = interval > 0 ? static_cast<double>(_s.done - _lastProgressDone) / interval : 0;
    _lastProgressNs = now;
    _lastProgressDone = _s.done;
    double pct = _o.requests > 0
                     ? 100.0 * static_cast<double>(_s.done) / static_cast<double>(_o.requests)
                     : std::min(100.0, 100.0 * elapsed / _o.duration);
    std::uint64_t errors = _s.failedRequests;
    char line[256];
    std::snprintf(line, sizeof line,
                  "%5.1f%% %8.1fs %12s req %9.0f req/s  errors %s  p99 %s  in flight %zu", pct,
                  elapsed, withCommas(_s.done).c_str(), rate, withCommas(errors).c_str(),
                  ms(_s.latency.quantile(0.99)).c_str(), inflightTotal());
    if (_tty) {
        int width = 30;
        int filled = static_cast<int>(pct / 100.0 * width);
        std::string bar(static_cast<std::size_t>(filled), '=');
        if (filled < width) bar += '>';
        bar.resize(static_cast<std::size_t>(width), ' ');
        std::fprintf(stderr, "\r[%s] %s\033[K", bar.c_str(), line);
        if (final) std::fprintf(stderr, "\n");
        _progressShown = true;
    } else {
        std::fprintf(stderr, "progress: %s\n", line);
    }
    std::fflush(stderr);
}

void Engine::tick(std::int64_t now) {
    std::int64_t timeoutNs = std::int64_t(_o.client.options.timeoutMs) * 1'000'000;
    bool anyUp = false;
    for (auto& c : _conns) {
        if (c.fd < 0) {
            if (now >= c.reconnectAt && haveWork()) open(c);
            continue;
        }
        if (c.up) anyUp = true;
        if (c.connecting && now - c.reconnectAt > timeoutNs) {
            close(c, code::kNoServer, "connect timed out");
            continue;
        }
        if (!c.inflight.empty() && now - c.inflight.front().sentNs > timeoutNs) {
            close(c, code::kTimeout,
                  "no answer in " + std::to_string(_o.client.options.timeoutMs) + " ms");
        }
    }
    if (anyUp) _lastUpNs = now;
    if (_fatal.empty() && haveWork() && now - _lastUpNs > 10'000'000'000LL)
        _fatal = "no connection to any server for 10 s";
    progress(now, false);
}

void Engine::run() {
    _ep = ::epoll_create1(EPOLL_CLOEXEC);
    _tty = ::isatty(2) == 1;
    _conns.resize(_o.connections);
    _startNs = _lastProgressNs = _lastUpNs = nowNs();
    _deadlineNs = _startNs + static_cast<std::int64_t>(_o.duration * 1e9);
    resolve();
    if (!_fatal.empty()) throw std::runtime_error(_fatal);
    std::size_t servers = _endpoints.size();
    std::size_t first = std::random_device{}() % servers;
    for (std::size_t k = 0; k < _conns.size(); ++k) {
        _conns[k].server = first + k;
        _conns[k].reconnectAt = _startNs;
        open(_conns[k]);
        if (!_fatal.empty()) break;
    }
    std::vector<epoll_event> events(256);
    std::int64_t lastTick = 0;
    while (!finished()) {
        if (gInterrupted.load() && !_stopIssuing) {
            _stopIssuing = true;
            _s.note += (_s.note.empty() ? "" : "; ") + std::string("interrupted");
        }
        int n = ::epoll_wait(_ep, events.data(), static_cast<int>(events.size()), 20);
        for (int k = 0; k < n; ++k) {
            Conn& c = *static_cast<Conn*>(events[static_cast<std::size_t>(k)].data.ptr);
            std::uint32_t ev = events[static_cast<std::size_t>(k)].events;
            if (c.fd < 0) continue;
            if (c.handshaking) {
                handshake(c);
                continue;
            }
            if (c.connecting) {
                int err = 0;
                socklen_t len = sizeof err;
                ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err != 0 || (ev & (EPOLLERR | EPOLLHUP))) {
                    close(c, code::kNoServer,
                          "cannot connect to " + _endpoints[c.server % servers].name + ": " +
                              std::strerror(err ? err : ECONNREFUSED));
                    continue;
                }
                if (!(ev & EPOLLOUT)) continue;
                if (_tls) {
                    try {
                        c.ssl = _tls->session(c.fd, _endpoints[c.server % servers].host);
                    } catch (const std::exception& ex) {
                        _fatal = ex.what();
                        break;
                    }
                    c.handshaking = true;
                    handshake(c);
                    continue;
                }
                c.connecting = false;
                c.up = _everUp = true;
                watch(c, false);
                fill(c);
                continue;
            }
            if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readable(c);
            if (c.fd >= 0 && (ev & EPOLLOUT)) flush(c);
        }
        std::int64_t now = nowNs();
        // New work may have appeared (the probe decided the mode).
        if (!_probing && haveWork())
            for (auto& c : _conns)
                if (c.up && c.inflight.size() < _o.pipeline) fill(c);
        if (now - lastTick > 50'000'000) {
            tick(now);
            lastTick = now;
        }
    }
    _endNs = nowNs();
    progress(_endNs, true);
    for (auto& c : _conns)
        if (c.fd >= 0) {
            if (c.ssl) {
                SSL_free(c.ssl);
                c.ssl = nullptr;
            }
            ::close(c.fd);
            c.fd = -1;
        }
    ::close(_ep);
    _s.seconds = static_cast<double>(_endNs - _startNs) / 1e9;
    _s.modeUsed = dora::client::modeName(_mode);
    if (!_fatal.empty()) throw std::runtime_error(_fatal);
}

// --------------------------------------------------------- mysql load

/// --mysql-insert: one autocommit single-row INSERT in flight per
/// connection, every connection driven by one epoll thread through the
/// MariaDB C API's non-blocking calls (the same shape as the Dora load).
/// Connections are opened (blocking) before the clock starts.
class MysqlLoad {
public:
    MysqlLoad(const BenchOptions& o, Stats& s) : _o(o), _s(s) {}
    ~MysqlLoad() {
        for (auto& c : _conns)
            if (c.m) mysql_close(c.m);
        if (_ep >= 0) ::close(_ep);
    }
    MysqlLoad(const MysqlLoad&) = delete;
    MysqlLoad& operator=(const MysqlLoad&) = delete;

    void run();

private:
    struct Conn {
        MYSQL* m = nullptr;
        int fd = -1;
        std::uint32_t events = 0;
        bool busy = false, dead = false;
        std::int64_t sentNs = 0;
        std::string query;
    };

    bool haveWork() const {
        if (_stop) return false;
        if (_o.requests > 0) return _next < _o.requests;
        return nowNs() < _deadlineNs;
    }
    void connect(Conn& c);
    void issue(Conn& c);
    void wait(Conn& c, int status);
    void done(Conn& c, int failed);
    void progress(std::int64_t now);

    const BenchOptions& _o;
    Stats& _s;
    std::vector<Conn> _conns;
    int _ep = -1;
    std::uint64_t _next = 0;
    std::size_t _busy = 0, _alive = 0;
    std::int64_t _startNs = 0, _deadlineNs = 0, _lastProgressNs = 0;
    std::uint64_t _lastProgressDone = 0;
    bool _stop = false;
};

void MysqlLoad::connect(Conn& c) {
    const MysqlSettings& ms = _o.mysql;
    c.m = mysql_init(nullptr);
    if (!c.m) throw std::runtime_error("mysql_init failed (out of memory)");
    mysql_options(c.m, MYSQL_OPT_NONBLOCK, nullptr);
    unsigned timeout =
        static_cast<unsigned>(std::max(1, _o.client.options.connectTimeoutMs / 1000));
    mysql_options(c.m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    if (!mysql_real_connect(c.m, ms.host.c_str(), ms.user.c_str(), ms.password.c_str(),
                            ms.database.c_str(), ms.port, nullptr, 0))
        throw std::runtime_error("cannot connect to MySQL " + ms.toString() + ": " +
                                 mysql_error(c.m));
    c.fd = mysql_get_socket(c.m);
    epoll_event ev{};
    ev.events = 0;
    ev.data.ptr = &c;
    if (::epoll_ctl(_ep, EPOLL_CTL_ADD, c.fd, &ev) != 0)
        throw std::runtime_error(std::string("epoll_ctl: ") + std::strerror(errno));
    ++_alive;
}

void MysqlLoad::wait(Conn& c, int status) {
    std::uint32_t want = EPOLLRDHUP;
    if (status & MYSQL_WAIT_READ) want |= EPOLLIN;
    if (status & MYSQL_WAIT_WRITE) want |= EPOLLOUT;
    if (status & MYSQL_WAIT_EXCEPT) want |= EPOLLPRI;
    if (want == c.events) return;
    epoll_event ev{};
    ev.events = want;
    ev.data.ptr = &c;
    ::epoll_ctl(_ep, EPOLL_CTL_MOD, c.fd, &ev);
    c.events = want;
}

void MysqlLoad::issue(Conn& c) {
    while (!c.dead && haveWork()) {
        std::int64_t i = _o.start + static_cast<std::int64_t>(_next++);
        c.query.clear();
        c.query += "INSERT INTO `";
        c.query += _o.mysqlTable;
        c.query += "` (name, department) VALUES ('";
        c.query += _o.namePrefix;
        c.query += std::to_string(i);
        c.query += "', 'bench')";
        ++_s.sent;
        c.sentNs = nowNs();
        if (!c.busy) ++_busy;
        c.busy = true;
        int failed = 0;
        int status = mysql_real_query_start(&failed, c.m, c.query.data(), c.query.size());
        if (status != 0) {
            wait(c, status);
            return;
        }
        done(c, failed);
    }
    if (c.busy) --_busy;
    c.busy = false;
    wait(c, 0);
}

void MysqlLoad::done(Conn& c, int failed) {
    ++_s.done;
    ++_s.calls;
    _s.latency.record(static_cast<std::uint64_t>((nowNs() - c.sentNs) / 1000));
    if (!failed) {
        ++_s.okRequests;
        ++_s.okCalls;
        return;
    }
    ++_s.failedRequests;
    ++_s.failedCalls;
    unsigned no = mysql_errno(c.m);
    auto& e = _s.errors[static_cast<int>(no)];
    ++e.requests;
    if (e.sample.empty()) e.sample = mysql_error(c.m);
    // The connection is gone (2006 server gone away, 2013 lost): stop using it.
    if (no == 2006 || no == 2013) {
        c.dead = true;
        --_alive;
        ::epoll_ctl(_ep, EPOLL_CTL_DEL, c.fd, nullptr);
    }
}

void MysqlLoad::progress(std::int64_t now) {
    if (_o.quiet || _o.progressSec <= 0) return;
    double interval = static_cast<double>(now - _lastProgressNs) / 1e9;
    if (interval < _o.progressSec) return;
    double elapsed = static_cast<double>(now - _startNs) / 1e9;
    double rate = static_cast<double>(_s.done - _lastProgressDone) / interval;
    _lastProgressNs = now;
    _lastProgressDone = _s.done;
    double pct = _o.requests > 0
                     ? 100.0 * static_cast<double>(_s.done) / static_cast<double>(_o.requests)
                     : std::min(100.0, 100.0 * elapsed / _o.duration);
    std::fprintf(stderr,
                 "progress: %5.1f%% %8.1fs %12s req %9.0f req/s  errors %s  p99 %s  in flight "
                 "%zu\n",
                 pct, elapsed, withCommas(_s.done).c_str(), rate,
                 withCommas(_s.failedRequests).c_str(), ms(_s.latency.quantile(0.99)).c_str(),
                 _busy);
    std::fflush(stderr);
}

void MysqlLoad::run() {
    _ep = ::epoll_create1(EPOLL_CLOEXEC);
    _conns.resize(_o.connections);
    for (auto& c : _conns)
        connect(c);
    _startNs = _lastProgressNs = nowNs();
    _deadlineNs = _startNs + static_cast<std::int64_t>(_o.duration * 1e9);
    for (auto& c : _conns)
        issue(c);
    std::vector<epoll_event> events(256);
    std::int64_t timeoutNs = std::int64_t(_o.client.options.timeoutMs) * 1'000'000;
    std::string fatal;
    while (_busy > 0) {
        if (gInterrupted.load() && !_stop) {
            _stop = true;
            _s.note = "interrupted";
        }
        int n = ::epoll_wait(_ep, events.data(), static_cast<int>(events.size()), 20);
        for (int k = 0; k < n; ++k) {
            Conn& c = *static_cast<Conn*>(events[static_cast<std::size_t>(k)].data.ptr);
            std::uint32_t ev = events[static_cast<std::size_t>(k)].events;
            if (c.dead) continue;
            if (!c.busy) {
                // Nothing asked: the server closed an idle connection.
                if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
                    c.dead = true;
                    --_alive;
                    ::epoll_ctl(_ep, EPOLL_CTL_DEL, c.fd, nullptr);
                }
                continue;
            }
            int st = 0;
            if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) st |= MYSQL_WAIT_READ;
            if (ev & EPOLLOUT) st |= MYSQL_WAIT_WRITE;
            if (ev & EPOLLPRI) st |= MYSQL_WAIT_EXCEPT;
            int failed = 0;
            int status = mysql_real_query_cont(&failed, c.m, st);
            if (status != 0) {
                wait(c, status);
                continue;
            }
            done(c, failed);
            issue(c);
        }
        std::int64_t now = nowNs();
        for (auto& c : _conns)
            if (c.busy && !c.dead && now - c.sentNs > timeoutNs)
                fatal = "MySQL gave no answer in " + std::to_string(_o.client.options.timeoutMs) +
                        " ms";
        if (!fatal.empty()) break;
        if (_alive == 0 && haveWork()) {
            fatal = "every MySQL connection was lost";
            break;
        }
        // Connections idle while work remains (a lost one's share) pick it up.
        if (haveWork())
            for (auto& c : _conns)
                if (!c.busy && !c.dead) issue(c);
        progress(now);
    }
    _s.seconds = static_cast<double>(nowNs() - _startNs) / 1e9;
    _s.modeUsed = "autocommit";
    if (!fatal.empty()) throw std::runtime_error(fatal);
}

// ------------------------------------------------------------- summary

std::string modeText(const BenchOptions& o, const Stats& s) {
    if (o.target != Target::Dora) return s.modeUsed;
    return s.modeUsed + (o.seed || o.multi > 1 ? " multi" : " single");
}

const char* targetName(Target t) {
    return t == Target::RedisPing     ? "redis-ping"
           : t == Target::MysqlInsert ? "mysql-insert"
                                      : "dora";
}

/// The name of an error code in the summary: MySQL errnos for --mysql-insert.
std::string errorName(const BenchOptions& o, int c) {
    if (o.target == Target::MysqlInsert) return "MySQL error";
    if (o.target == Target::RedisPing && c == code::kBadAnswer) return "Redis error reply";
    return dora::client::describeCode(c);
}

double cpuSeconds() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void printSummary(const BenchOptions& o, const Stats& s, double cps, double rps) {
    std::string what =
        o.seed ? std::string("seed (add_user + insert_user + plus_user)") : std::string();
    if (!o.seed)
        for (const auto& a : o.apis)
            what += (what.empty() ? "" : ",") + a.name +
                    (o.apis.size() > 1 ? ":" + std::to_string(a.weight) : "");
    std::string servers;
    for (const auto& sv : o.client.options.servers)
        servers += (servers.empty() ? "" : ",") + sv.toString();
    const char* proto = dora::client::generationName(o.client.options.generation);
    if (o.target == Target::RedisPing) {
        what = "redis PING";
        proto = "RESP";
        servers = o.redisAddress;
    } else if (o.target == Target::MysqlInsert) {
        what = "MySQL INSERT INTO " + o.mysqlTable;
        proto = "MariaDB C API";
        servers = o.mysql.toString();
    }
    std::printf("dora bench: %s, %s, %s, %u connections, pipeline %u, %s\n", what.c_str(),
                modeText(o, s).c_str(), proto, o.connections, o.pipeline, servers.c_str());
    if (!s.note.empty()) std::printf("  note        %s\n", s.note.c_str());
    std::printf("  requests    %s in %.2f s: %.0f req/s", withCommas(s.done).c_str(), s.seconds,
                rps);
    if (s.calls != s.done)
        std::printf(", %s calls: %.0f calls/s", withCommas(s.calls).c_str(), cps);
    std::printf("\n  ok          %s requests, %s calls\n", withCommas(s.okRequests).c_str(),
                withCommas(s.okCalls).c_str());
    if (s.errors.empty()) {
        std::printf("  errors      none\n");
    } else {
        std::printf("  errors      %s requests, %s calls failed\n",
                    withCommas(s.failedRequests).c_str(), withCommas(s.failedCalls).c_str());
        for (const auto& [c, e] : s.errors)
            std::printf("    %d %-28s %s requests, %s calls  (%s)\n", c, errorName(o, c).c_str(),
                        withCommas(e.requests).c_str(), withCommas(e.calls).c_str(),
                        e.sample.c_str());
    }
    if (s.strays)
        std::printf("  stray       %s answers for unknown guids\n", withCommas(s.strays).c_str());
    if (s.connectFailures)
        std::printf("  connect     %s failed attempts\n", withCommas(s.connectFailures).c_str());
    std::printf("  latency     p50 %s  p90 %s  p99 %s  max %s\n",
                ms(s.latency.quantile(0.5)).c_str(), ms(s.latency.quantile(0.9)).c_str(),
                ms(s.latency.quantile(0.99)).c_str(), ms(s.latency.max()).c_str());
    std::printf("  cpu         %.2f s of this load generator (user + system)\n", s.cpuSeconds);
}

Value summaryJson(const BenchOptions& o, const Stats& s, double cps, double rps) {
    Value v = Value::array();
    v.set("target", targetName(o.target));
    v.set("scenario", o.target == Target::RedisPing     ? "redis-ping"
                      : o.target == Target::MysqlInsert ? "mysql-insert"
                      : o.seed                          ? "seed"
                                                        : "api");
    Value apis = Value::array();
    if (o.target == Target::Dora)
        for (const auto& a : o.apis)
            apis.set(a.name, static_cast<long long>(a.weight));
    v.set("apis", apis);
    v.set("mode", s.modeUsed);
    v.set("multi", o.seed || o.multi > 1);
    v.set("proto", o.target == Target::RedisPing ? "resp"
                   : o.target == Target::MysqlInsert
                       ? "mysql"
                       : dora::client::generationName(o.client.options.generation));
    v.set("connections", static_cast<long long>(o.connections));
    v.set("pipeline", static_cast<long long>(o.pipeline));
    v.set("requests", static_cast<long long>(s.done));
    v.set("calls", static_cast<long long>(s.calls));
    v.set("ok_requests", static_cast<long long>(s.okRequests));
    v.set("ok_calls", static_cast<long long>(s.okCalls));
    v.set("failed_requests", static_cast<long long>(s.failedRequests));
    v.set("failed_calls", static_cast<long long>(s.failedCalls));
    v.set("seconds", s.seconds);
    v.set("requests_per_sec", rps);
    v.set("calls_per_sec", cps);
    Value errors = Value::array();
    for (const auto& [c, e] : s.errors) {
        Value one = Value::array();
        one.set("name", errorName(o, c));
        one.set("requests", static_cast<long long>(e.requests));
        one.set("calls", static_cast<long long>(e.calls));
        one.set("sample", e.sample);
        errors.set(dora::sdk::Key::rawString(std::to_string(c)), one);
    }
    v.set("errors", errors);
    v.set("stray_answers", static_cast<long long>(s.strays));
    v.set("connect_failures", static_cast<long long>(s.connectFailures));
    Value lat = Value::array();
    lat.set("p50", static_cast<double>(s.latency.quantile(0.5)) / 1000.0);
    lat.set("p90", static_cast<double>(s.latency.quantile(0.9)) / 1000.0);
    lat.set("p99", static_cast<double>(s.latency.quantile(0.99)) / 1000.0);
    lat.set("max", static_cast<double>(s.latency.max()) / 1000.0);
    v.set("latency_ms", lat);
    v.set("cpu_seconds", s.cpuSeconds);
    if (!s.note.empty()) v.set("note", s.note);
    return v;
}

/// The writes of the run that --verify / --clean look at.
std::vector<WriteSet> writeSets(const BenchOptions& o, std::vector<int>& writeOf,
                                std::string& skipped) {
    std::vector<WriteSet> sets;
    writeOf.assign(o.apis.size(), -1);
    for (std::size_t k = 0; k < o.apis.size(); ++k) {
        const ApiSpec& a = o.apis[k];
        if (!isWriteApi(a.name)) continue;
        const Value* name = a.param.find("name");
        std::string t = name && name->isString() ? name->asString() : std::string();
        std::size_t at = t.find("{i}");
        if (at == std::string::npos || t.find("{i}", at + 3) != std::string::npos) {
            skipped += (skipped.empty() ? "" : "; ") + a.name +
                       " (its \"name\" template needs exactly one {i})";
            continue;
        }
        bool dup = false;
        for (auto& s : sets)
            if (s.api == a.name) dup = true;
        if (dup) {
            skipped += (skipped.empty() ? "" : "; ") + a.name + " (listed twice)";
            continue;
        }
        WriteSet w;
        w.api = a.name;
        w.counts = a.name == "plus_user";
        w.prefix = t.substr(0, at);
        w.suffix = t.substr(at + 3);
        w.first = o.start;
        if (o.requests > 0) w.acked.assign(o.requests * (o.seed ? 1 : o.multi), 0);
        writeOf[k] = static_cast<int>(sets.size());
        sets.push_back(std::move(w));
    }
    return sets;
}

/// Async writes land after the run: wait until the host's queue is empty
/// (no stream entry left, none pending, no batch in flight: every taken
/// entry was committed, acknowledged and deleted), asking the host's getStat
/// every 100 ms. That costs the host a stream length and a pending count
/// per ask, where counting the rows in MySQL costs the database a scan of
/// every row written so far (SUM(visits) reads each row): polled every
/// 200 ms during a 3M-write seed that scan took more of MariaDB than the
/// writes did. MySQL is still the judge: waitForLanding and check() count
/// the rows once the queue is empty. Gives up after `quietSec` without
/// progress, or at once if the host reports no queue (an older host, or
/// Redis down): then waitForLanding's own polling decides.
double waitForQueueDrain(const BenchOptions& o, double quietSec) {
    using Clock = std::chrono::steady_clock;
    auto start = Clock::now();
    auto lastChange = start;
    std::int64_t last = -2;
    dora::client::Client client(o.client.options);
    for (;;) {
        Result r = client.getStat();
        const Value* q = nullptr;
        if (r.code == 0)
            if (const Value* server = r.data.find("server")) q = server->find("queue");
        auto num = [&](const char* key) -> std::int64_t {
            const Value* v = q ? q->find(key) : nullptr;
            return v && v->isInt() ? v->asInt() : -1;
        };
        std::int64_t length = num("stream_length"), pending = num("pending"),
                     inFlight = num("batches_in_flight");
        if (length < 0 || pending < 0) break; // no queue to ask: MySQL decides
        if (length == 0 && pending == 0 && inFlight <= 0) break;
        auto now = Clock::now();
        if (length + pending != last) {
            last = length + pending;
            lastChange = now;
        } else if (std::chrono::duration<double>(now - lastChange).count() >= quietSec) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return std::chrono::duration<double>(Clock::now() - start).count();
}

} // namespace

int runBench(ArgList& args) {
    if (args.flag({"-h", "--help"})) {
        std::cout << kBenchHelp << kMysqlOptionsHelp << "\n" << kClientOptionsHelp;
        return 0;
    }
    BenchOptions o = parseOptions(args);
    std::vector<int> writeOf;
    std::string skipped;
    std::vector<WriteSet> sets = writeSets(o, writeOf, skipped);
    std::unique_ptr<Verifier> verifier;
    if (o.verify || o.clean) {
        if (sets.empty())
            throw UsageError("--verify/--clean: this run writes nothing they can check "
                             "(add_user, insert_user, plus_user with a name containing {i})" +
                             (skipped.empty() ? std::string() : ": " + skipped));
        verifier = std::make_unique<Verifier>(o.mysql);
        for (auto& w : sets) {
            if (o.clean) {
                std::uint64_t n = verifier->clean(w);
                if (!o.client.json)
                    std::fprintf(stderr, "clean: deleted %s rows named %s*\n",
                                 withCommas(n).c_str(), w.prefix.c_str());
            }
            verifier->baseline(w);
        }
    }

    Stats stats;
    struct sigaction sa {};
    sa.sa_handler = onInterrupt;
    ::sigaction(SIGINT, &sa, nullptr);
    double cpuBefore = cpuSeconds();
    if (o.target == Target::MysqlInsert) {
        MysqlLoad load(o, stats);
        load.run();
    } else {
        Engine engine(o, stats, sets, writeOf);
        engine.run();
        if (o.target == Target::RedisPing) stats.modeUsed = "PING";
    }
    stats.cpuSeconds = cpuSeconds() - cpuBefore;
    ::signal(SIGINT, SIG_DFL);

    double rps = stats.seconds > 0 ? static_cast<double>(stats.done) / stats.seconds : 0;
    double cps = stats.seconds > 0 ? static_cast<double>(stats.calls) / stats.seconds : 0;
    Value doc = summaryJson(o, stats, cps, rps);
    if (!o.client.json) printSummary(o, stats, cps, rps);

    std::uint64_t lost = 0, twice = 0;
    if (o.verify) {
        // A sync answer means committed: look at once. Async writes land
        // later; wait while the table keeps changing.
        double quiet = stats.modeUsed == "sync" ? 0.0 : o.verifyWait;
        double waited = 0;
        if (quiet > 0 && o.target == Target::Dora) waited = waitForQueueDrain(o, quiet);
        waited += verifier->waitForLanding(sets, quiet);
        Value vj = Value::array();
        if (!o.client.json)
            std::printf("verify (MySQL %s, waited %.1f s for writes to land):\n",
                        o.mysql.toString().c_str(), waited);
        for (const auto& w : sets) {
            WriteReport r = verifier->check(w);
            lost += r.lost;
            twice += r.twice;
            Value one = Value::array();
            one.set("acked", static_cast<long long>(r.acked));
            one.set("landed", static_cast<long long>(r.landed));
            one.set("lost", static_cast<long long>(r.lost));
            one.set("applied_twice", static_cast<long long>(r.twice));
            one.set("unacked_landed", static_cast<long long>(r.unackedLanded));
            Value names = Value::array();
            for (const auto& n : r.lostNames)
                names.push(n);
            one.set("lost_names", names);
            vj.set(r.api, one);
            if (o.client.json) continue;
            std::printf("  %-12s acked %s, landed %s, lost %s", r.api.c_str(),
                        withCommas(r.acked).c_str(), withCommas(r.landed).c_str(),
                        withCommas(r.lost).c_str());
            if (w.counts) std::printf(", applied twice %s", withCommas(r.twice).c_str());
            if (r.unackedLanded)
                std::printf(", landed without ack %s", withCommas(r.unackedLanded).c_str());
            std::printf("\n");
            if (!r.lostNames.empty()) {
                std::printf("    lost:");
                for (const auto& n : r.lostNames)
                    std::printf(" %s", n.c_str());
                if (r.lost > r.lostNames.size())
                    std::printf(" (+%s more)", withCommas(r.lost - r.lostNames.size()).c_str());
                std::printf("\n");
            }
        }
        if (!skipped.empty() && !o.client.json) std::printf("  not checked: %s\n", skipped.c_str());
        if (!o.client.json)
            std::printf(lost == 0 && twice == 0
                            ? "verify: OK, every acknowledged write landed once\n"
                            : "verify: FAILED\n");
        vj.set("waited_seconds", waited);
        vj.set("ok", lost == 0 && twice == 0);
        doc.set("verify", vj);
    }
    if (o.client.json) std::cout << dora::client::toJson(doc) << std::endl;
    std::fflush(stdout);

    if (lost > 0 || twice > 0) {
        printError("bench: verify: " + std::to_string(lost) + " acknowledged writes lost, " +
                   std::to_string(twice) + " applied twice");
        return 1;
    }
    if (stats.failedRequests > 0 || stats.strays > 0) {
        auto worst = std::max_element(
            stats.errors.begin(), stats.errors.end(), [](const auto& a, const auto& b) {
                return a.second.requests + a.second.calls < b.second.requests + b.second.calls;
            });
        std::string what = worst == stats.errors.end()
                               ? std::string()
                               : " (mostly " + std::to_string(worst->first) + " " +
                                     errorName(o, worst->first) + ": " + worst->second.sample + ")";
        printError("bench: " + std::to_string(stats.failedRequests) + " of " +
                   std::to_string(stats.done) + " requests failed" + what);
        return 1;
    }
    if (stats.done == 0) {
        printError("bench: no request was completed");
        return 1;
    }
    return 0;
}

} // namespace dora::cli
