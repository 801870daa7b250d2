#include "cli/Args.h"

#include <dora/client/Discovery.h>

#include <cstdlib>
#include <sstream>

namespace dora::cli {

using dora::client::Generation;

const char* const kClientOptionsHelp =
    "client options (every command):\n"
    "  --server HOST:PORT   server to call; repeat for a list (random pick, failover,\n"
    "                       blocklist); default $DORA_SERVER (comma separated) or\n"
    "                       127.0.0.1:9567\n"
    "  --registry HOST:PORT|unix:PATH\n"
    "                       instead of --server: read the live, not draining servers\n"
    "                       of --group from the DoraRPC registry in that Redis\n"
    "  --group NAME         the registry group to call (default \"default\")\n"
    "  --json               machine-readable output (one JSON document)\n"
    "  --proto v1|v2|json   client generation to speak (default v2)\n"
    "  --timeout MS         answer timeout (default 10000)\n"
    "  --connect-timeout MS connect timeout (default 3000)\n"
    "  --retry N            extra attempts, on a server picked afresh, when that is safe:\n"
    "                       no connection, or busy / shutting down answers (default 0)\n"
    "  --retry-unsafe       also retry after a timeout or a lost connection (the call\n"
    "                       may then run twice)\n"
    "  --signature          sign frames (CRC-32 of body+salt); the server must do so too\n"
    "  --salt STR           signature salt (default the DoraRPC one)\n"
    "  --sign-key FILE      HMAC-SHA256 sign every request with the key in FILE (the\n"
    "                       host's server.signing key); default $DORA_SIGN_KEY_FILE\n"
    "  --gzip               gzip v2 request bodies\n"
    "  --tls                speak TLS (a host with server.tls): the server's certificate\n"
    "                       must chain to --ca and name the host or IP of --server\n"
    "  --ca FILE            PEM CA bundle for --tls (default: the system's trust store)\n"
    "  --cert FILE --key FILE\n"
    "                       client certificate and key for --tls, for a host that\n"
    "                       requires them (server.tls.client_ca)\n"
    "  --token TOKEN        the server's control.token, for control commands (stat,\n"
    "                       reload, task, dead); default $DORA_CONTROL_TOKEN\n"
    "  -h, --help           this help\n";

ArgList::ArgList(std::vector<std::string> args) {
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--") {
            _tail.assign(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
            break;
        }
        _args.push_back(args[i]);
    }
}

bool ArgList::flag(std::initializer_list<const char*> names) {
    bool found = false;
    for (auto it = _args.begin(); it != _args.end();) {
        bool match = false;
        for (const char* n : names)
            if (*it == n) match = true;
        if (match) {
            found = true;
            it = _args.erase(it);
        } else {
            ++it;
        }
    }
    return found;
}

std::vector<std::string> ArgList::values(std::initializer_list<const char*> names) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < _args.size();) {
        bool taken = false;
        for (const char* n : names) {
            std::string name = n;
            if (_args[i] == name) {
                if (i + 1 >= _args.size()) throw UsageError("option " + name + " needs a value");
                out.push_back(_args[i + 1]);
                _args.erase(_args.begin() + static_cast<std::ptrdiff_t>(i),
                            _args.begin() + static_cast<std::ptrdiff_t>(i) + 2);
                taken = true;
                break;
            }
            if (name.size() > 2 && _args[i].rfind(name + "=", 0) == 0) {
                out.push_back(_args[i].substr(name.size() + 1));
                _args.erase(_args.begin() + static_cast<std::ptrdiff_t>(i));
                taken = true;
                break;
            }
        }
        if (!taken) ++i;
    }
    return out;
}

std::optional<std::string> ArgList::value(std::initializer_list<const char*> names) {
    auto all = values(names);
    if (all.empty()) return std::nullopt;
    return all.back();
}

std::vector<std::string> ArgList::positional() {
    for (const auto& a : _args)
        if (a.size() > 1 && a[0] == '-' && !(a[1] >= '0' && a[1] <= '9'))
            throw UsageError("unknown option '" + a + "'");
    std::vector<std::string> out = _args;
    out.insert(out.end(), _tail.begin(), _tail.end());
    return out;
}

std::int64_t parseInt(const std::string& option, const std::string& text, std::int64_t min,
                      std::int64_t max) {
    std::int64_t v = 0;
    std::size_t used = 0;
    try {
        v = std::stoll(text, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used == 0 || used != text.size())
        throw UsageError(option + ": '" + text + "' is not a whole number");
    if (v < min || v > max)
        throw UsageError(option + ": " + text + " is out of range (" + std::to_string(min) + ".." +
                         std::to_string(max) + ")");
    return v;
}

double parseDouble(const std::string& option, const std::string& text, double min) {
    double v = 0;
    std::size_t used = 0;
    try {
        v = std::stod(text, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used == 0 || used != text.size())
        throw UsageError(option + ": '" + text + "' is not a number");
    if (v < min) throw UsageError(option + ": " + text + " is below " + std::to_string(min));
    return v;
}

ClientFlags takeClientFlags(ArgList& args) {
    ClientFlags f;
    auto& o = f.options;
    std::vector<std::string> servers = args.values({"--server", "-s"});
    auto registry = args.value({"--registry"});
    auto group = args.value({"--group"});
    if (registry && !servers.empty()) throw UsageError("--registry and --server exclude each other");
    if (group && !registry) throw UsageError("--group needs --registry");
    if (registry) {
        try {
            dora::client::parseRegistry(*registry);
        } catch (const std::invalid_argument& e) {
            throw UsageError(std::string("--registry: ") + e.what());
        }
        o.registry = *registry;
        if (group) {
            if (group->empty()) throw UsageError("--group: empty group name");
            o.group = *group;
        }
        // Read now, so every command (bench too) has the list; the client
        // reads the registry again when all of them fail.
        auto at = dora::client::parseRegistry(o.registry);
        o.servers = dora::client::discover(at, o.group, o.connectTimeoutMs);
        if (o.servers.empty())
            throw std::runtime_error("no live server of group '" + o.group + "' in the registry at " +
                                     at.toString());
    } else if (servers.empty()) {
        const char* env = std::getenv("DORA_SERVER");
        std::string list = env && *env ? env : "127.0.0.1:9567";
        std::stringstream ss(list);
        std::string item;
        while (std::getline(ss, item, ','))
            if (!item.empty()) servers.push_back(item);
    }
    for (const auto& s : servers) {
        try {
            o.servers.push_back(dora::client::parseServer(s));
        } catch (const std::invalid_argument& e) {
            throw UsageError(std::string("--server: ") + e.what());
        }
    }
    if (auto p = args.value({"--proto"}); p && !dora::client::parseGeneration(*p, o.generation))
        throw UsageError("--proto: '" + *p + "' is not v1, v2 or json");
    if (auto t = args.value({"--timeout"}))
        o.timeoutMs = static_cast<int>(parseInt("--timeout", *t, 1, 86400000));
    if (auto t = args.value({"--connect-timeout"}))
        o.connectTimeoutMs = static_cast<int>(parseInt("--connect-timeout", *t, 1, 600000));
    if (auto r = args.value({"--retry"}))
        o.retry = static_cast<int>(parseInt("--retry", *r, 0, 100));
    o.retryUnsafe = args.flag({"--retry-unsafe"});
    if (auto s = args.value({"--salt"})) o.wire.salt = *s;
    o.wire.signature = args.flag({"--signature"});
    o.wire.gzip = args.flag({"--gzip"});
    std::string keyFile;
    if (auto k = args.value({"--sign-key"})) {
        keyFile = *k;
    } else if (const char* env = std::getenv("DORA_SIGN_KEY_FILE")) {
        keyFile = env;
    }
    if (!keyFile.empty()) {
        try {
            o.wire.signingKey = dora::client::readSigningKey(keyFile);
        } catch (const std::runtime_error& e) {
            throw UsageError(std::string("--sign-key: ") + e.what());
        }
    }
    if (o.wire.gzip && o.generation != Generation::V2)
        throw UsageError("--gzip needs --proto v2 (only v2 frames carry gzip bodies)");
    o.tls.enabled = args.flag({"--tls"});
    auto ca = args.value({"--ca"});
    auto cert = args.value({"--cert"});
    auto key = args.value({"--key"});
    if ((ca || cert || key) && !o.tls.enabled) throw UsageError("--ca, --cert and --key need --tls");
    if (cert.has_value() != key.has_value()) throw UsageError("--cert and --key go together");
    o.tls.caFile = ca.value_or("");
    o.tls.certFile = cert.value_or("");
    o.tls.keyFile = key.value_or("");
    if (auto t = args.value({"--token"})) {
        o.controlToken = *t;
    } else if (const char* env = std::getenv("DORA_CONTROL_TOKEN")) {
        o.controlToken = env;
    }
    f.json = args.flag({"--json"});
    return f;
}

} // namespace dora::cli
