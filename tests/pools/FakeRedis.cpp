#include "pools/FakeRedis.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <vector>

namespace dora::test {

namespace {

/// One RESP array of bulk strings from the front of `in` (what hiredis
/// sends for an argv command); false while it is incomplete.
bool takeCommand(std::string& in, std::vector<std::string>& argv) {
    argv.clear();
    std::size_t at = 0;
    auto line = [&](char kind, long& n) {
        if (at >= in.size() || in[at] != kind) return false;
        std::size_t end = in.find("\r\n", at);
        if (end == std::string::npos) return false;
        n = std::strtol(in.c_str() + at + 1, nullptr, 10);
        at = end + 2;
        return true;
    };
    long count = 0;
    if (!line('*', count)) return false;
    for (long i = 0; i < count; ++i) {
        long len = 0;
        if (!line('$', len)) return false;
        if (in.size() < at + static_cast<std::size_t>(len) + 2) return false;
        argv.emplace_back(in, at, static_cast<std::size_t>(len));
        at += static_cast<std::size_t>(len) + 2;
    }
    in.erase(0, at);
    return true;
}

/// The built-in reply to one command; empty: close the connection instead.
std::string builtInReply(const std::vector<std::string>& argv) {
    std::string name = argv.empty() ? "" : argv[0];
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return std::toupper(c); });
    if (name == "PING") return "+PONG\r\n";
    if (name == "ECHO" && argv.size() == 2)
        return "$" + std::to_string(argv[1].size()) + "\r\n" + argv[1] + "\r\n";
    if (name == "INCR") return ":7\r\n";
    if (name == "GET") return "$-1\r\n";
    if (name == "FAIL") return "-ERR failing on purpose\r\n";
    if (name == "NEST") return "*3\r\n$1\r\na\r\n:2\r\n*2\r\n$-1\r\n+ok\r\n";
    if (name == "DROP") return {};
    return "-ERR unknown command '" + name + "'\r\n";
}

} // namespace

FakeRedis::FakeRedis() : FakeRedis(Script{}) {}

std::vector<std::vector<std::string>> FakeRedis::received() const {
    std::lock_guard<std::mutex> lock(_receivedMutex);
    return _received;
}

std::string FakeRedis::replyTo(const std::vector<std::string>& argv) {
    if (!_script) return builtInReply(argv);
    {
        std::lock_guard<std::mutex> lock(_receivedMutex);
        _received.push_back(argv);
    }
    std::optional<std::string> r = _script(argv);
    return r ? *r : builtInReply(argv);
}

FakeRedis::FakeRedis(Script script) : _script(std::move(script)) {
    char tmpl[] = "/tmp/dora-pools-redis-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    _dir = tmpl;
    _path = _dir + "/redis.sock";
    _listen = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, _path.c_str(), sizeof a.sun_path - 1);
    if (::bind(_listen, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(_listen, 16) != 0)
        throw std::runtime_error("fake redis: cannot listen on " + _path);
    if (::pipe(_stopPipe) != 0) throw std::runtime_error("pipe failed");
    _thread = std::thread([this] { serve(); });
}

FakeRedis::~FakeRedis() {
    char x = 1;
    [[maybe_unused]] auto w = ::write(_stopPipe[1], &x, 1);
    _thread.join();
    ::close(_listen);
    ::close(_stopPipe[0]);
    ::close(_stopPipe[1]);
    std::error_code ec;
    std::filesystem::remove_all(_dir, ec);
}

void FakeRedis::serve() {
    std::map<int, std::string> clients; // fd -> unparsed input
    for (;;) {
        std::vector<pollfd> fds{{_stopPipe[0], POLLIN, 0}, {_listen, POLLIN, 0}};
        for (auto& [fd, in] : clients)
            fds.push_back({fd, POLLIN, 0});
        if (::poll(fds.data(), fds.size(), -1) < 0) continue;
        if (fds[0].revents) break;
        if (fds[1].revents & POLLIN) {
            int c = ::accept4(_listen, nullptr, nullptr, SOCK_CLOEXEC);
            if (c >= 0) {
                clients[c];
                ++_accepted;
            }
        }
        for (std::size_t i = 2; i < fds.size(); ++i) {
            if (!fds[i].revents) continue;
            int fd = fds[i].fd;
            char buf[4096];
            ssize_t n = ::read(fd, buf, sizeof buf);
            bool keep = n > 0;
            if (keep) {
                std::string& in = clients[fd];
                in.append(buf, static_cast<std::size_t>(n));
                std::vector<std::string> argv;
                std::string out;
                while (keep && takeCommand(in, argv)) {
                    ++_commands;
                    std::string r = replyTo(argv);
                    if (r.empty())
                        keep = false;
                    else
                        out += r;
                }
                if (!out.empty()) [[maybe_unused]]
                    auto w = ::write(fd, out.data(), out.size());
            }
            if (!keep) {
                ::close(fd);
                clients.erase(fd);
            }
        }
    }
    for (auto& [fd, in] : clients)
        ::close(fd);
}

} // namespace dora::test
