#include <dora/client/Discovery.h>

#include <dora/wire/Endpoint.h>
#include <dora/wire/Registry.h>

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <stdexcept>

namespace dora::client {

namespace reg = dora::wire::registry;
using Clock = std::chrono::steady_clock;

std::string RegistryAddress::toString() const {
    if (!socket.empty()) return "unix:" + socket;
    return Server{host, port}.toString();
}

RegistryAddress parseRegistry(std::string_view text) {
    RegistryAddress a;
    if (text.rfind("unix:", 0) == 0) {
        a.socket = std::string(text.substr(5));
        if (a.socket.empty()) throw std::invalid_argument("unix: needs a socket path");
        if (a.socket.size() >= sizeof(sockaddr_un{}.sun_path))
            throw std::invalid_argument("socket path too long: '" + a.socket + "'");
        return a;
    }
    Server s = parseServer(text);
    a.host = s.host;
    a.port = s.port;
    return a;
}

namespace {

/// A blocking RESP connection with one deadline for everything.
class Resp {
public:
    Resp(const RegistryAddress& at, int timeoutMs)
        : _where(at.toString()), _deadline(Clock::now() + std::chrono::milliseconds(timeoutMs)) {
        if (!at.socket.empty()) {
            _fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            sockaddr_un sa{};
            sa.sun_family = AF_UNIX;
            std::memcpy(sa.sun_path, at.socket.data(), at.socket.size());
            if (_fd < 0 || ::connect(_fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
                fail(std::strerror(errno));
            return;
        }
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        addrinfo* res = nullptr;
        std::string port = std::to_string(at.port);
        if (int rc = ::getaddrinfo(at.host.c_str(), port.c_str(), &hints, &res); rc != 0)
            fail(gai_strerror(rc));
        std::string why = "no address";
        for (addrinfo* a = res; a && _fd < 0; a = a->ai_next) {
            int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, 0);
            if (fd >= 0 && ::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
                _fd = fd;
                break;
            }
            why = std::strerror(errno);
            if (fd >= 0) ::close(fd);
        }
        ::freeaddrinfo(res);
        if (_fd < 0) fail(why);
    }
    ~Resp() {
        if (_fd >= 0) ::close(_fd);
    }
    Resp(const Resp&) = delete;
    Resp& operator=(const Resp&) = delete;

    void send(const std::vector<std::string>& argv) {
        std::string out = "*" + std::to_string(argv.size()) + "\r\n";
        for (const auto& a : argv)
            out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
        std::size_t at = 0;
        while (at < out.size()) {
            ssize_t n = ::send(_fd, out.data() + at, out.size() - at, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) fail(std::string("send: ") + std::strerror(errno));
            at += static_cast<std::size_t>(n);
        }
    }

    /// One reply: bulk strings and simple strings as text, nil as "" with
    /// nil set, arrays flattened into items. Error replies throw.
    struct Reply {
        bool nil = false;
        std::string text;
        std::vector<Reply> items;
    };
    Reply read() {
        std::string line = readLine();
        Reply r;
        if (line.empty()) fail("empty reply line");
        const char kind = line[0];
        const std::string rest = line.substr(1);
        switch (kind) {
        case '+':
        case ':': r.text = rest; return r;
        case '-': fail("Redis answered: " + rest);
        case '$': {
            long long n = std::stoll(rest);
            if (n < 0) {
                r.nil = true;
                return r;
            }
            r.text = readBytes(static_cast<std::size_t>(n) + 2);
            r.text.resize(static_cast<std::size_t>(n));
            return r;
        }
        case '*': {
            long long n = std::stoll(rest);
            if (n < 0) {
                r.nil = true;
                return r;
            }
            for (long long i = 0; i < n; ++i)
                r.items.push_back(read());
            return r;
        }
        default: fail("unexpected reply '" + line + "'");
        }
    }

private:
    [[noreturn]] void fail(const std::string& why) {
        throw std::runtime_error("registry " + _where + ": " + why);
    }
    void fill() {
        int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        _deadline - Clock::now())
                                        .count());
        pollfd p{_fd, POLLIN, 0};
        if (left <= 0 || ::poll(&p, 1, left) <= 0) fail("no answer in time");
        char buf[16384];
        ssize_t n = ::recv(_fd, buf, sizeof buf, 0);
        if (n <= 0) fail(n == 0 ? "connection closed" : std::strerror(errno));
        _in.append(buf, static_cast<std::size_t>(n));
    }
    std::string readLine() {
        for (;;) {
            auto end = _in.find("\r\n", _pos);
            if (end != std::string::npos) {
                std::string line = _in.substr(_pos, end - _pos);
                _pos = end + 2;
                return line;
            }
            fill();
        }
    }
    std::string readBytes(std::size_t n) {
        while (_in.size() - _pos < n)
            fill();
        std::string out = _in.substr(_pos, n);
        _pos += n;
        return out;
    }

    std::string _where;
    Clock::time_point _deadline;
    int _fd = -1;
    std::string _in;
    std::size_t _pos = 0;
};

} // namespace

std::vector<Server> discover(const RegistryAddress& registry, const std::string& group, int timeoutMs) {
    Resp r(registry, timeoutMs);
    r.send({"SMEMBERS", std::string(reg::kServerList)});
    Resp::Reply list = r.read();
    std::vector<reg::Node> candidates;
    for (const auto& m : list.items) {
        reg::Node n;
        if (!reg::parseMember(m.text, n) || n.draining) continue;
        bool in = false;
        for (const auto& g : n.groups)
            in = in || g == group;
        if (in) candidates.push_back(std::move(n));
    }
    for (const auto& n : candidates)
        r.send({"GET", reg::timeKey(n.ip, n.port)});
    std::vector<Server> out;
    const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
    for (const auto& n : candidates) {
        Resp::Reply t = r.read();
        if (t.nil || t.text.empty()) continue; // expired: dead
        std::int64_t at = 0;
        try {
            at = std::stoll(t.text);
        } catch (const std::exception&) {
            continue;
        }
        // The DoraRPC monitor's rule; 0 is a draining dorahost.
        if (at <= 0 || now - at > reg::kMonitorStaleSec) continue;
        out.push_back(Server{n.ip, n.port});
    }
    return out;
}

} // namespace dora::client
