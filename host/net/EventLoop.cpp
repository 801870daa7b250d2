#include "net/EventLoop.h"

#include <Poco/Logger.h>
#include <Poco/Net/SocketAddress.h>

#include <arpa/inet.h>
#include <pthread.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace dora::net {

namespace {

constexpr std::uint64_t kListenTag = 0;
constexpr std::uint64_t kWakeTag = 1;
constexpr int kMaxEvents = 256;

std::int64_t nowSec() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

Poco::Logger& logger() { return Poco::Logger::get("dorahost.net"); }

std::string peerOf(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
    try {
        return Poco::Net::SocketAddress(reinterpret_cast<sockaddr*>(&ss), len).toString();
    } catch (...) {
        return "?";
    }
}

} // namespace

int listenTcp(const std::string& host, std::uint16_t port, int backlog) {
    Poco::Net::SocketAddress addr;
    try {
        addr = Poco::Net::SocketAddress(host, port);
    } catch (const Poco::Exception& e) {
        throw std::runtime_error("cannot listen on " + host + ":" + std::to_string(port) + ": " +
                                 e.displayText());
    }
    int fd = ::socket(addr.family() == Poco::Net::SocketAddress::IPv6 ? AF_INET6 : AF_INET,
                      SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, addr.addr(), addr.length()) != 0 || ::listen(fd, backlog) != 0) {
        int e = errno;
        ::close(fd);
        throw std::runtime_error("cannot listen on " + addr.toString() + ": " + std::strerror(e));
    }
    return fd;
}

std::uint16_t boundPort(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
    if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
    return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

EventLoop::EventLoop(unsigned index, int listenFd, LoopOptions options, FrameHandler& handler)
    : _index(index), _listenFd(listenFd), _opt(std::move(options)), _handler(handler),
      // Ids start past the two tags and are unique across loops.
      _nextId((static_cast<std::uint64_t>(index) << 48) + 2), _readBuf(_opt.readChunk) {
    _epoll = epoll_create1(EPOLL_CLOEXEC);
    _wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (_epoll < 0 || _wake < 0) throw std::runtime_error("epoll/eventfd setup failed");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kWakeTag;
    epoll_ctl(_epoll, EPOLL_CTL_ADD, _wake, &ev);
    if (_listenFd >= 0) {
        ev.events = EPOLLIN | EPOLLEXCLUSIVE;
        ev.data.u64 = kListenTag;
        epoll_ctl(_epoll, EPOLL_CTL_ADD, _listenFd, &ev);
    }
}

EventLoop::~EventLoop() {
    stop();
    if (_epoll >= 0) ::close(_epoll);
    if (_wake >= 0) ::close(_wake);
}

void EventLoop::start() {
    _running = true;
    _thread = std::thread([this] { run(); });
}

void EventLoop::stop() {
    if (!_thread.joinable()) return;
    _stopRequested = true;
    std::uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(_wake, &one, sizeof one);
    _thread.join();
}

void EventLoop::post(std::uint64_t connId, std::string bytes, std::size_t completed) {
    {
        std::lock_guard<std::mutex> lock(_outboxMutex);
        _outbox.push_back(Posted{connId, std::move(bytes), completed});
    }
    // One eventfd write per batch of answers: only the poster that finds
    // no wake-up pending pays for the syscall.
    if (!_wakePending.exchange(true, std::memory_order_acq_rel)) {
        std::uint64_t one = 1;
        [[maybe_unused]] auto r = ::write(_wake, &one, sizeof one);
    }
}

void EventLoop::run() {
    std::string name = "dora-io-" + std::to_string(_index);
    pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
    epoll_event events[kMaxEvents];
    std::int64_t lastSweep = nowSec();
    while (!_stopRequested.load(std::memory_order_relaxed)) {
        int timeout = _opt.idleTimeoutSec > 0 ? 1000 : -1;
        int n = epoll_wait(_epoll, events, kMaxEvents, timeout);
        if (n < 0) {
            if (errno == EINTR) continue;
            logger().error("epoll_wait: %s", std::string(std::strerror(errno)));
            break;
        }
        for (int i = 0; i < n; ++i) {
            std::uint64_t tag = events[i].data.u64;
            if (tag == kListenTag) {
                acceptAll();
                continue;
            }
            if (tag == kWakeTag) {
                std::uint64_t v;
                [[maybe_unused]] auto r = ::read(_wake, &v, sizeof v);
                drainOutbox();
                continue;
            }
            auto it = _conns.find(tag);
            if (it == _conns.end()) continue;
            Connection& c = *it->second;
            if (events[i].events & (EPOLLERR | EPOLLHUP)) {
                // Read what is left first: a peer may send and close.
                if (events[i].events & EPOLLIN) onReadable(c);
                _toClose.push_back(c.id);
                continue;
            }
            if (events[i].events & EPOLLIN) onReadable(c);
            if (events[i].events & EPOLLOUT) flush(c);
        }
        _handler.onRoundEnd(*this);
        for (auto id : _toClose) {
            auto it = _conns.find(id);
            if (it != _conns.end()) close(*it->second);
        }
        _toClose.clear();
        if (_opt.idleTimeoutSec > 0 && nowSec() != lastSweep) {
            lastSweep = nowSec();
            sweepIdle();
        }
    }
    // Shutting down: deliver what workers already answered, then close.
    drainOutbox();
    std::vector<std::uint64_t> ids;
    for (auto& [id, c] : _conns) ids.push_back(id);
    for (auto id : ids) close(*_conns.at(id));
}

void EventLoop::acceptAll() {
    for (;;) {
        int fd = ::accept4(_listenFd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE) {
                logger().error("accept: out of file descriptors; new connections wait");
                return;
            }
            logger().error("accept: %s", std::string(std::strerror(errno)));
            return;
        }
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        auto conn = std::make_unique<Connection>();
        conn->id = _nextId++;
        conn->fd = fd;
        conn->lastActive = nowSec();
        conn->peer = peerOf(fd);
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.u64 = conn->id;
        if (epoll_ctl(_epoll, EPOLL_CTL_ADD, fd, &ev) != 0) {
            ::close(fd);
            continue;
        }
        Connection& c = *conn;
        _conns.emplace(conn->id, std::move(conn));
        _connCount.fetch_add(1, std::memory_order_relaxed);
        _accepted.fetch_add(1, std::memory_order_relaxed);
        _handler.onConnectionOpened(*this, c);
    }
}

void EventLoop::onReadable(Connection& c) {
    if (c.closeAfterFlush) {
        // Discard: the connection is being closed after its last answer.
        char sink[4096];
        while (::read(c.fd, sink, sizeof sink) > 0) {
        }
        return;
    }
    ssize_t n = ::read(c.fd, _readBuf.data(), _readBuf.size());
    if (n <= 0) {
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            _toClose.push_back(c.id);
        return;
    }
    c.lastActive = nowSec();
    std::string_view fresh(_readBuf.data(), static_cast<std::size_t>(n));
    if (c.inPos == c.in.size()) {
        // Nothing buffered (the common case): parse straight from the read
        // buffer and keep only an incomplete tail.
        c.in.clear();
        c.inPos = 0;
        std::size_t used = parseFrames(c, fresh);
        if (!c.closeAfterFlush) c.in.assign(fresh.substr(used));
    } else {
        // Compact before growing so a long-lived connection does not creep.
        if (c.inPos > 65536) {
            c.in.erase(0, c.inPos);
            c.inPos = 0;
        }
        c.in.append(fresh);
        c.inPos += parseFrames(c, std::string_view(c.in).substr(c.inPos));
        if (c.closeAfterFlush) {
            c.in.clear();
            c.inPos = 0;
        }
    }
    if (!c.out.empty()) flush(c);
}

std::size_t EventLoop::parseFrames(Connection& c, std::string_view avail) {
    std::size_t total = 0;
    while (!c.closeAfterFlush) {
        protocol::Frame frame;
        std::size_t used = 0;
        protocol::ParseStatus st = protocol::parseFrame(avail.substr(total), _opt.frame, frame, used);
        if (st == protocol::ParseStatus::NeedMore) break;
        if (st != protocol::ParseStatus::Ok) {
            _handler.onBadFrame(*this, c, st);
            c.closeAfterFlush = true;
            break;
        }
        _handler.onFrame(*this, c, frame);
        total += used;
    }
    return total;
}

void EventLoop::flush(Connection& c) {
    while (c.outPos < c.out.size()) {
        ssize_t n = ::send(c.fd, c.out.data() + c.outPos, c.out.size() - c.outPos, MSG_NOSIGNAL);
        if (n > 0) {
            c.outPos += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (n < 0 && errno == EINTR) continue;
        _toClose.push_back(c.id);
        return;
    }
    if (c.outPos == c.out.size()) {
        c.out.clear();
        c.outPos = 0;
        if (c.closeAfterFlush && c.inflight == 0) {
            _toClose.push_back(c.id);
            return;
        }
    }
    updateInterest(c);
}

void EventLoop::updateInterest(Connection& c) {
    bool want = c.outPos < c.out.size();
    if (want == c.wantWrite) return;
    c.wantWrite = want;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | (want ? EPOLLOUT : 0u);
    ev.data.u64 = c.id;
    epoll_ctl(_epoll, EPOLL_CTL_MOD, c.fd, &ev);
}

void EventLoop::close(Connection& c) {
    _handler.onConnectionClosed(*this, c);
    epoll_ctl(_epoll, EPOLL_CTL_DEL, c.fd, nullptr);
    ::close(c.fd);
    _connCount.fetch_sub(1, std::memory_order_relaxed);
    _conns.erase(c.id); // c is gone after this line
}

void EventLoop::drainOutbox() {
    _wakePending.store(false, std::memory_order_release);
    {
        std::lock_guard<std::mutex> lock(_outboxMutex);
        _draining.swap(_outbox);
    }
    std::vector<Connection*> touched;
    for (auto& p : _draining) {
        auto it = _conns.find(p.connId);
        if (it == _conns.end()) continue; // client left; its answer goes nowhere
        Connection& c = *it->second;
        c.inflight = c.inflight >= p.completed ? c.inflight - p.completed : 0;
        if (c.out.empty()) {
            c.out.swap(p.bytes);
            c.outPos = 0;
        } else {
            c.out.append(p.bytes);
        }
        touched.push_back(&c);
    }
    _draining.clear();
    for (Connection* c : touched) {
        // A connection may appear several times; flushing twice is harmless.
        if (!c->out.empty() || c->closeAfterFlush) flush(*c);
    }
    for (auto id : _toClose) {
        auto it = _conns.find(id);
        if (it != _conns.end()) close(*it->second);
    }
    _toClose.clear();
}

void EventLoop::sweepIdle() {
    std::int64_t now = nowSec();
    for (auto& [id, c] : _conns)
        if (c->inflight == 0 && now - c->lastActive > _opt.idleTimeoutSec) _toClose.push_back(id);
    for (auto id : _toClose) {
        auto it = _conns.find(id);
        if (it != _conns.end()) close(*it->second);
    }
    _toClose.clear();
}

} // namespace dora::net
