#include "protocol_v2/PhpWire.h"

#include <dora/sdk/serialize.h>

#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <unistd.h>

namespace fs = std::filesystem;

namespace dora::test::php {

std::string packN(std::uint32_t n) {
    std::string out(4, '\0');
    out[0] = static_cast<char>(n >> 24);
    out[1] = static_cast<char>(n >> 16);
    out[2] = static_cast<char>(n >> 8);
    out[3] = static_cast<char>(n);
    return out;
}

std::uint32_t crc32(std::string_view s) {
    uLong c = ::crc32(0L, Z_NULL, 0);
    c = ::crc32(c, reinterpret_cast<const Bytef*>(s.data()), static_cast<uInt>(s.size()));
    return static_cast<std::uint32_t>(c);
}

std::string gzencode(std::string_view s, int level) {
    z_stream zs{};
    // windowBits 15 + 16: the gzip wrapper, as PHP's ZLIB_ENCODING_GZIP.
    if (deflateInit2(&zs, level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        throw std::runtime_error("deflateInit2");
    std::string out(deflateBound(&zs, static_cast<uLong>(s.size())) + 64, '\0');
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(s.data()));
    zs.avail_in = static_cast<uInt>(s.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    int rc = deflate(&zs, Z_FINISH);
    out.resize(zs.total_out);
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) throw std::runtime_error("deflate");
    return out;
}

std::string gzdecode(std::string_view s) {
    z_stream zs{};
    if (inflateInit2(&zs, 31) != Z_OK) throw std::runtime_error("inflateInit2");
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(s.data()));
    zs.avail_in = static_cast<uInt>(s.size());
    std::string out;
    char buf[65536];
    int rc = Z_OK;
    while (rc == Z_OK) {
        zs.next_out = reinterpret_cast<Bytef*>(buf);
        zs.avail_out = sizeof buf;
        rc = inflate(&zs, Z_NO_FLUSH);
        out.append(buf, sizeof buf - zs.avail_out);
        if (rc == Z_BUF_ERROR && zs.avail_in == 0) break;
    }
    inflateEnd(&zs);
    if (rc != Z_STREAM_END) throw std::runtime_error("not a complete gzip stream");
    return out;
}

std::string S(std::string_view s) {
    return "s:" + std::to_string(s.size()) + ":\"" + std::string(s) + "\";";
}

std::string I(std::int64_t v) { return "i:" + std::to_string(v) + ";"; }

std::string A(const std::vector<std::pair<std::string, std::string>>& kv) {
    std::string out = "a:" + std::to_string(kv.size()) + ":{";
    for (const auto& [k, v] : kv)
        out += k + v;
    return out + "}";
}

std::string call(std::string_view name, const std::string& param) {
    return A({{S("name"), S(name)}, {S("param"), param}});
}

std::string apiOne(std::string_view name, const std::string& param) {
    return A({{S("one"), call(name, param)}});
}

std::string v2Req(std::string_view guid, std::string_view type, const std::string& api) {
    return A({{S("guid"), S(guid)}, {S("api"), api}, {S("type"), S(type)}});
}

std::string v1Req(std::string_view guid, std::string_view type, const std::string& api) {
    return A({{S("guid"), S(guid)}, {S("type"), S(type)}, {S("api"), api}});
}

std::string v1Packet(const std::string& body, bool sign, const std::string& salt) {
    if (!sign) return packN(static_cast<std::uint32_t>(body.size())) + body;
    return packN(static_cast<std::uint32_t>(body.size() + 4)) + packN(crc32(body + salt)) + body;
}

std::string v2Packet(std::string_view guid, const std::string& plain, bool sign, bool gzip,
                     const std::string& salt) {
    std::string body = gzip ? gzencode(plain, 4) : plain;
    if (!sign)
        return packN(static_cast<std::uint32_t>(body.size() + 32)) + std::string(guid) + body;
    return packN(static_cast<std::uint32_t>(body.size() + 4 + 32)) + packN(crc32(body + salt)) +
           std::string(guid) + body;
}

std::string v1Answer(std::int64_t code, std::string_view msg, const std::string& data,
                     std::string_view guid) {
    return A({{S("code"), I(code)}, {S("msg"), S(msg)}, {S("data"), data}, {S("guid"), S(guid)}});
}

std::string v2Answer(std::string_view guid, std::int64_t code, std::string_view msg,
                     const std::string& data, bool isResult) {
    std::vector<std::pair<std::string, std::string>> kv{
        {S("guid"), S(guid)}, {S("code"), I(code)}, {S("msg"), S(msg)}, {S("data"), data}};
    if (isResult) kv.emplace_back(S("isresult"), I(1));
    return A(kv);
}

const dora::sdk::Value& at(const dora::sdk::Value& v, std::initializer_list<dora::sdk::Key> path) {
    const dora::sdk::Value* p = &v;
    for (const auto& k : path) {
        const dora::sdk::Value* next = p->isArray() ? p->find(k) : nullptr;
        if (!next)
            throw std::runtime_error("no key '" + k.toString() + "' in " +
                                     dora::sdk::serialize(*p));
        p = next;
    }
    return *p;
}

std::string uniqueName(const std::string& prefix) { return prefix + "_" + newGuid().substr(0, 8); }

std::string framed(const std::string& payload) {
    return packN(static_cast<std::uint32_t>(payload.size())) + payload;
}

// ------------------------------------------------------------ fixtures

FixtureDirs::FixtureDirs(const std::vector<std::string>& fixtures) {
    char tmpl[] = "/tmp/dora-fixtures-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    _root = tmpl;
    _plugins = _root + "/plugins";
    _routes = _root + "/routes.d";
    fs::create_directories(_plugins);
    fs::create_directories(_routes);
    std::string bd = buildDir();
    for (const auto& e : fs::directory_iterator(bd + "/lib/dorahost/plugins"))
        fs::create_symlink(e.path(), _plugins + "/" + e.path().filename().string());
    for (const auto& e : fs::directory_iterator(bd + "/etc/dorahost/routes.d"))
        fs::copy_file(e.path(), _routes + "/" + e.path().filename().string());
    for (const auto& name : fixtures) {
        std::string so = bd + "/tests/fixtures/plugins/lib" + name + ".so";
        std::string yaml = bd + "/tests/fixtures/routes.d/" + name + ".yaml";
        if (!fs::exists(so) || !fs::exists(yaml))
            throw std::runtime_error("test fixture '" + name + "' is not built (" + so + ", " +
                                     yaml + ")");
        fs::create_symlink(so, _plugins + "/lib" + name + ".so");
        fs::copy_file(yaml, _routes + "/" + name + ".yaml");
    }
}

FixtureDirs::~FixtureDirs() {
    std::error_code ec;
    fs::remove_all(_root, ec);
}

namespace {

struct SharedHost {
    std::unique_ptr<FixtureDirs> dirs;
    std::unique_ptr<HostProcess> host;
    ~SharedHost() {
        host.reset(); // stop the host before its folders go
        dirs.reset();
    }
};

} // namespace

HostProcess& host(const std::string& name) {
    static std::mutex mutex;
    static std::map<std::string, SharedHost> hosts;
    std::lock_guard<std::mutex> lock(mutex);
    auto& h = hosts[name];
    if (h.host && h.host->running()) return *h.host;
    h.host.reset();
    h.dirs = std::make_unique<FixtureDirs>(std::vector<std::string>{"slow"});
    HostProcess::Options o;
    o.pluginsDir = h.dirs->plugins();
    o.routesDir = h.dirs->routes();
    if (name == "plain") {
    } else if (name == "signed") {
        o.extraYaml = "protocol:\n  signature: true\n";
    } else if (name == "gzip") {
        o.extraYaml = "protocol:\n  gzip: true\n";
    } else if (name == "signed_gzip") {
        o.extraYaml = "protocol:\n  signature: true\n  gzip: true\n";
    } else if (name == "limits") {
        o.serverYaml = "  max_calls_per_request: 3\n  max_inflight_per_connection: 2\n"
                       "  max_frame_bytes: 4096\n";
    } else if (name == "idle") {
        o.serverYaml = "  idle_timeout_sec: 1\n";
    } else {
        throw std::logic_error("no shared host configuration '" + name + "'");
    }
    h.host = std::make_unique<HostProcess>(o);
    return *h.host;
}

std::string printable(std::string_view bytes) {
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (unsigned char c : bytes) {
        if ((c >= 0x20 && c < 0x7f && c != '\\') || c >= 0x80) {
            out += static_cast<char>(c);
        } else if (c == '\\') {
            out += "\\\\";
        } else {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

} // namespace dora::test::php
