#include "net/EventLoop.h"

#include <Poco/Logger.h>
#include <Poco/Net/SocketAddress.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <pthread.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <dlfcn.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <stdexcept>

namespace dora::net {

namespace {

constexpr std::uint64_t kListenTag = 0;
constexpr std::uint64_t kWakeTag = 1;
constexpr int kMaxEvents = 256;
/// How long the listener stays out of epoll after EMFILE/ENFILE.
constexpr int kAcceptPauseMs = 100;
/// A buffer this large or less keeps its capacity once emptied (the
/// common small answers reuse it); a larger one is freed, so one big
/// answer or request does not pin its size for the connection's life.
constexpr std::size_t kKeepCapacity = 64 * 1024;
/// Heap held free above this is handed back to the OS by the sweep.
constexpr std::size_t kReleaseAboveBytes = 16 * 1024 * 1024;

std::int64_t nowSec() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

std::int64_t nowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

/// Empties s; frees its buffer when it grew past kKeepCapacity.
void reset(std::string& s) {
    if (s.capacity() > kKeepCapacity)
        std::string().swap(s);
    else
        s.clear();
}

/// The part of tcmalloc's C API the sweep uses, looked up at run time: the
/// binary links tcmalloc, test programs linking the loop may not, and
/// nothing here should make them.
struct Tcmalloc {
    int (*property)(const char*, std::size_t*) = nullptr;
    void (*release)() = nullptr;
    Tcmalloc() {
        property = reinterpret_cast<int (*)(const char*, std::size_t*)>(
            dlsym(RTLD_DEFAULT, "MallocExtension_GetNumericProperty"));
        release = reinterpret_cast<void (*)()>(dlsym(RTLD_DEFAULT, "MallocExtension_ReleaseFreeMemory"));
    }
};

/// Returns free heap pages to the OS when more than kReleaseAboveBytes
/// are held free. Cheap when there is little to give back.
void releaseFreeHeap() {
    static const Tcmalloc tc;
    if (!tc.property || !tc.release) return;
    std::size_t freeBytes = 0;
    if (tc.property("tcmalloc.pageheap_free_bytes", &freeBytes) && freeBytes > kReleaseAboveBytes)
        tc.release();
}

Poco::Logger& logger() { return Poco::Logger::get("dorahost.net"); }

/// One SSL_write, with ::send's contract: bytes written, or -1 with errno
/// EAGAIN (the socket is full; try again when writable) or EPIPE (gone).
ssize_t tlsSend(Connection& c, const char* data, std::size_t len) {
    int r = SSL_write(c.ssl, data, static_cast<int>(std::min<std::size_t>(len, INT_MAX)));
    if (r > 0) return r;
    int e = SSL_get_error(c.ssl, r);
    if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
        errno = EAGAIN;
        return -1;
    }
    if (e != SSL_ERROR_ZERO_RETURN) c.tlsFailed = true;
    ERR_clear_error();
    errno = EPIPE;
    return -1;
}

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

bool EventLoop::Throttle::allow(std::int64_t now) {
    if (now - lastMs < 1000) {
        ++held;
        return false;
    }
    lastMs = now;
    return true;
}

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

bool EventLoop::stopAccepting(int timeoutMs) {
    _acceptStop = true;
    return sync(timeoutMs);
}

bool EventLoop::sync(int timeoutMs) {
    const std::uint64_t ticket = ++_syncAsked;
    if (!_thread.joinable()) {
        confirmSync();
        return true;
    }
    std::uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(_wake, &one, sizeof one);
    std::unique_lock<std::mutex> lock(_syncMutex);
    return _syncCv.wait_for(lock, std::chrono::milliseconds(timeoutMs),
                            [&] { return _syncDone >= ticket; });
}

void EventLoop::confirmSync() {
    if (_acceptStop.load(std::memory_order_relaxed) && !_acceptStopped) {
        // Connections already in the backlog are served (and so answered)
        // rather than reset when the listener closes.
        if (_listenFd >= 0 && !_acceptPaused) {
            acceptAll();
            epoll_ctl(_epoll, EPOLL_CTL_DEL, _listenFd, nullptr);
        }
        _acceptPaused = false;
        _acceptStopped = true;
    }
    std::lock_guard<std::mutex> lock(_syncMutex);
    _syncDone = _syncAsked.load();
    _syncCv.notify_all();
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
    const bool sweeps = _opt.idleTimeoutSec > 0 || _opt.frameTimeoutSec > 0 ||
                        _opt.outputStallTimeoutSec > 0 || _opt.releaseFreeMemory;
    while (!_stopRequested.load(std::memory_order_relaxed)) {
        int timeout = sweeps ? 1000 : -1;
        if (_acceptPaused) {
            auto left = std::max<std::int64_t>(0, _acceptResumeMs - nowMs());
            timeout = static_cast<int>(timeout < 0 ? left : std::min<std::int64_t>(left, timeout));
        }
        if (!_tlsAgain.empty()) timeout = 0;
        int n = epoll_wait(_epoll, events, kMaxEvents, timeout);
        _roundStartNs = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
        if (n < 0) {
            if (errno == EINTR) continue;
            logger().error("epoll_wait: %s", std::string(std::strerror(errno)));
            break;
        }
        for (int i = 0; i < n; ++i) {
            std::uint64_t tag = events[i].data.u64;
            if (tag == kListenTag) {
                if (!_acceptStopped) acceptAll();
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
            if (events[i].events & EPOLLOUT) {
                // A TLS handshake or read that waited for room goes on.
                if (c.tlsWantWrite) onReadable(c);
                flush(c);
            }
        }
        if (!_tlsAgain.empty()) {
            _tlsAgainRun.swap(_tlsAgain);
            for (auto id : _tlsAgainRun) {
                auto it = _conns.find(id);
                if (it == _conns.end()) continue;
                Connection& c = *it->second;
                if (!c.readPaused && !c.closeAfterFlush) onReadable(c);
            }
            _tlsAgainRun.clear();
        }
        _handler.onRoundEnd(*this);
        closePending();
        // After onRoundEnd: what this round read is with the handler.
        if (_syncAsked.load(std::memory_order_relaxed) != _syncDone) confirmSync();
        if (_acceptPaused && nowMs() >= _acceptResumeMs) resumeAccept();
        if (sweeps && nowSec() != lastSweep) {
            lastSweep = nowSec();
            sweep();
        }
    }
    // Shutting down: deliver what workers already answered, then close.
    drainOutbox();
    // Answers a slow reader has not taken yet get one last second, for
    // all connections together.
    const std::int64_t until = nowMs() + 1000;
    for (auto& [id, c] : _conns) {
        while (c->outPos < c->out.size() && nowMs() < until) {
            pollfd p{c->fd, POLLOUT, 0};
            if (::poll(&p, 1, static_cast<int>(until - nowMs())) <= 0) break;
            ssize_t n = c->ssl ? tlsSend(*c, c->out.data() + c->outPos, c->out.size() - c->outPos)
                               : ::send(c->fd, c->out.data() + c->outPos, c->out.size() - c->outPos, MSG_NOSIGNAL);
            if (n > 0)
                c->outPos += static_cast<std::size_t>(n);
            else if (n < 0 && errno != EAGAIN && errno != EINTR)
                break;
        }
    }
    std::vector<std::uint64_t> ids;
    for (auto& [id, c] : _conns) ids.push_back(id);
    for (auto id : ids) close(*_conns.at(id));
}

void EventLoop::closePending() {
    for (auto id : _toClose) {
        auto it = _conns.find(id);
        if (it != _conns.end()) close(*it->second);
    }
    _toClose.clear();
}

void EventLoop::pauseAccept(std::int64_t now) {
    // Level-triggered: a listener left in epoll with no descriptor to
    // accept into wakes the loop at once, forever. Park it instead;
    // connections wait in the kernel's backlog meanwhile.
    epoll_ctl(_epoll, EPOLL_CTL_DEL, _listenFd, nullptr);
    _acceptPaused = true;
    _acceptResumeMs = now + kAcceptPauseMs;
}

void EventLoop::resumeAccept() {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;
    ev.data.u64 = kListenTag;
    epoll_ctl(_epoll, EPOLL_CTL_ADD, _listenFd, &ev);
    _acceptPaused = false;
}

void EventLoop::acceptAll() {
    for (;;) {
        int fd = ::accept4(_listenFd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE) {
                int e = errno;
                std::int64_t now = nowMs();
                pauseAccept(now);
                if (_logNoFds.allow(now)) {
                    logger().error("accept: out of file descriptors (%s, %z open here); not accepting "
                                   "for %d ms, new connections wait (%z more like this held back)",
                                   std::string(std::strerror(e)), _conns.size(), kAcceptPauseMs,
                                   static_cast<std::size_t>(_logNoFds.held));
                    _logNoFds.held = 0;
                }
                return;
            }
            logger().error("accept: %s", std::string(std::strerror(errno)));
            return;
        }
        if (_opt.budget && _opt.budget->open.fetch_add(1, std::memory_order_relaxed) >= _opt.budget->max) {
            // Over max_connections: the client learns at once (a clean
            // close) instead of hanging in the backlog.
            _opt.budget->open.fetch_sub(1, std::memory_order_relaxed);
            ::close(fd);
            std::int64_t now = nowMs();
            if (_logOverCap.allow(now)) {
                logger().warning("connection refused: server.max_connections (%z) reached; closed at "
                                 "once (%z more held back)",
                                 _opt.budget->max, static_cast<std::size_t>(_logOverCap.held));
                _logOverCap.held = 0;
            }
            continue;
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
            if (_opt.budget) _opt.budget->open.fetch_sub(1, std::memory_order_relaxed);
            continue;
        }
        if (_opt.tls) {
            conn->ssl = SSL_new(_opt.tls->get());
            if (!conn->ssl || SSL_set_fd(conn->ssl, fd) != 1) {
                std::string why = takeTlsError();
                logger().error("TLS: cannot set up a session for %s: %s; closed", conn->peer, why);
                if (conn->ssl) SSL_free(conn->ssl);
                epoll_ctl(_epoll, EPOLL_CTL_DEL, fd, nullptr);
                ::close(fd);
                if (_opt.budget) _opt.budget->open.fetch_sub(1, std::memory_order_relaxed);
                continue;
            }
            SSL_set_accept_state(conn->ssl);
            conn->tlsHandshaking = true;
            // The handshake is bounded like an incomplete frame.
            conn->frameStart = conn->lastActive;
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
    ssize_t n;
    if (c.ssl) {
        n = static_cast<ssize_t>(tlsRead(c));
        if (n == 0) return;
    } else {
        n = ::read(c.fd, _readBuf.data(), _readBuf.size());
        if (n <= 0) {
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
                _toClose.push_back(c.id);
            return;
        }
    }
    const std::int64_t now = nowSec();
    c.lastActive = now;
    std::string_view fresh(_readBuf.data(), static_cast<std::size_t>(n));
    if (c.inPos == c.in.size()) {
        // Nothing buffered (the common case): parse straight from the read
        // buffer and keep only an incomplete tail.
        c.in.clear();
        c.inPos = 0;
        std::size_t used = parseFrames(c, fresh);
        std::string_view tail = c.closeAfterFlush ? std::string_view() : fresh.substr(used);
        if (c.in.capacity() > kKeepCapacity && tail.size() <= kKeepCapacity)
            std::string(tail).swap(c.in);
        else
            c.in.assign(tail);
        // The tail's first byte came in this read.
        c.frameStart = tail.empty() ? 0 : now;
    } else {
        // Compact before growing so a long-lived connection does not creep.
        if (c.inPos > 65536) {
            c.in.erase(0, c.inPos);
            c.inPos = 0;
        }
        c.in.append(fresh);
        std::size_t used = parseFrames(c, std::string_view(c.in).substr(c.inPos));
        c.inPos += used;
        if (c.closeAfterFlush || c.inPos == c.in.size()) {
            reset(c.in);
            c.inPos = 0;
            c.frameStart = 0;
        } else if (used > 0) {
            // The frame that was waiting is done; the one now incomplete
            // began in this read.
            c.frameStart = now;
        }
    }
    if (!c.out.empty()) flush(c);
}

bool EventLoop::tlsHandshake(Connection& c) {
    int r = SSL_do_handshake(c.ssl);
    if (r == 1) {
        c.tlsHandshaking = false;
        c.frameStart = 0;
        if (c.tlsWantWrite) {
            c.tlsWantWrite = false;
            updateInterest(c);
        }
        return true;
    }
    int e = SSL_get_error(c.ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        const bool ww = e == SSL_ERROR_WANT_WRITE;
        if (ww != c.tlsWantWrite) {
            c.tlsWantWrite = ww;
            updateInterest(c);
        }
        return false;
    }
    // Not TLS (a plain-text client), no common version (TLS < 1.2), no
    // acceptable client certificate, or the peer left mid-handshake.
    std::string why = takeTlsError();
    c.tlsFailed = true;
    _toClose.push_back(c.id);
    if (why.empty()) {
        // Closed before finishing (a port probe, a health check).
        logger().debug("%s closed during the TLS handshake", c.peer);
        return false;
    }
    std::int64_t now = nowMs();
    if (_logTls.allow(now)) {
        logger().warning("TLS handshake with %s failed: %s; closed (%z more held back)", c.peer, why,
                         static_cast<std::size_t>(_logTls.held));
        _logTls.held = 0;
    }
    return false;
}

std::size_t EventLoop::tlsRead(Connection& c) {
    if (c.tlsHandshaking && !tlsHandshake(c)) return 0;
    std::size_t got = 0;
    const std::size_t room = _readBuf.size();
    for (;;) {
        int r = SSL_read(c.ssl, _readBuf.data() + got, static_cast<int>(std::min<std::size_t>(room - got, INT_MAX)));
        if (r > 0) {
            got += static_cast<std::size_t>(r);
            // One socket read per readable event, as on the plain path:
            // go on only with bytes OpenSSL already holds.
            if (got == room || !SSL_has_pending(c.ssl)) break;
            continue;
        }
        int e = SSL_get_error(c.ssl, r);
        if (e == SSL_ERROR_WANT_READ) break;
        if (e == SSL_ERROR_WANT_WRITE) {
            // TLS 1.3 may answer (a key update) from inside a read.
            if (!c.tlsWantWrite) {
                c.tlsWantWrite = true;
                updateInterest(c);
            }
            return got;
        }
        // close_notify (ZERO_RETURN), an EOF or a fatal error: what was
        // read before it is still parsed.
        if (e != SSL_ERROR_ZERO_RETURN) c.tlsFailed = true;
        ERR_clear_error();
        _toClose.push_back(c.id);
        return got;
    }
    if (c.tlsWantWrite) {
        c.tlsWantWrite = false;
        updateInterest(c);
    }
    if (got == room && SSL_has_pending(c.ssl)) _tlsAgain.push_back(c.id);
    return got;
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
        ssize_t n = c.ssl ? tlsSend(c, c.out.data() + c.outPos, c.out.size() - c.outPos)
                          : ::send(c.fd, c.out.data() + c.outPos, c.out.size() - c.outPos, MSG_NOSIGNAL);
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
        reset(c.out);
        c.outPos = 0;
        if (c.closeAfterFlush && c.inflight == 0) {
            _toClose.push_back(c.id);
            return;
        }
    }
    updateInterest(c);
}

void EventLoop::updateInterest(Connection& c) {
    const std::size_t unsent = c.out.size() - c.outPos;
    const bool want = unsent > 0 || c.tlsWantWrite;
    // Hysteresis: stop reading above the cap, resume below half, so a
    // client reading at the edge does not flip the interest every round.
    bool paused = c.readPaused;
    if (!paused && unsent > _opt.maxOutputBytes)
        paused = true;
    else if (paused && unsent <= _opt.maxOutputBytes / 2)
        paused = false;
    if (want == c.wantWrite && paused == c.readPaused) return;
    if (paused && !c.readPaused) c.pausedSince = nowSec();
    // The frame clock does not run while the loop is not reading: the rest
    // of a half frame may be waiting in the kernel. It starts again on
    // resume (output_stall_timeout_sec bounds the pause itself).
    if (!paused && c.readPaused && c.frameStart != 0) c.frameStart = nowSec();
    // Resuming: what OpenSSL read ahead before the pause raises no event.
    if (!paused && c.readPaused && c.ssl && SSL_has_pending(c.ssl)) _tlsAgain.push_back(c.id);
    c.wantWrite = want;
    c.readPaused = paused;
    epoll_event ev{};
    // Paused: no EPOLLIN and no EPOLLRDHUP either (a half-close would
    // report RDHUP level-triggered with nothing to read it). A reset or a
    // full close still comes as EPOLLHUP/EPOLLERR.
    ev.events = (paused ? 0u : EPOLLIN | EPOLLRDHUP) | (want ? EPOLLOUT : 0u);
    ev.data.u64 = c.id;
    epoll_ctl(_epoll, EPOLL_CTL_MOD, c.fd, &ev);
}

void EventLoop::close(Connection& c) {
    _handler.onConnectionClosed(*this, c);
    epoll_ctl(_epoll, EPOLL_CTL_DEL, c.fd, nullptr);
    if (c.ssl) {
        if (!c.tlsFailed && !c.tlsHandshaking) {
            SSL_shutdown(c.ssl); // close_notify, one try: the socket closes anyway
        } else {
            // What the failed peer sent and OpenSSL did not read would turn
            // the close into a reset; take a little of it first.
            char sink[4096];
            for (int k = 0; k < 16 && ::read(c.fd, sink, sizeof sink) > 0; ++k) {
            }
        }
        ERR_clear_error();
        SSL_free(c.ssl);
        c.ssl = nullptr;
    }
    ::close(c.fd);
    _connCount.fetch_sub(1, std::memory_order_relaxed);
    if (_opt.budget) _opt.budget->open.fetch_sub(1, std::memory_order_relaxed);
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
            // Drop what was sent before growing: a client that reads slowly
            // but never quite catches up would otherwise keep every byte.
            if (c.outPos > c.out.size() / 2) {
                c.out.erase(0, c.outPos);
                c.outPos = 0;
            }
            c.out.append(p.bytes);
        }
        touched.push_back(&c);
    }
    _draining.clear();
    for (Connection* c : touched) {
        // A connection may appear several times; flushing twice is harmless.
        if (!c->out.empty() || c->closeAfterFlush) flush(*c);
    }
    closePending();
}

void EventLoop::sweep() {
    const std::int64_t now = nowSec();
    const std::int64_t ms = nowMs();
    std::size_t frameTimeouts = 0, stalls = 0, handshakeTimeouts = 0;
    std::string framePeer, stallPeer, handshakePeer;
    for (auto& [id, cp] : _conns) {
        Connection& c = *cp;
        if (_opt.idleTimeoutSec > 0 && c.inflight == 0 && now - c.lastActive > _opt.idleTimeoutSec) {
            _toClose.push_back(id);
        } else if (_opt.frameTimeoutSec > 0 && c.frameStart != 0 && !c.closeAfterFlush &&
                   !c.readPaused && now - c.frameStart > _opt.frameTimeoutSec) {
            // A slow or stalled sender: its half frame (or its TLS
            // handshake) has waited too long.
            _toClose.push_back(id);
            if (c.tlsHandshaking) {
                if (handshakeTimeouts++ == 0) handshakePeer = c.peer;
            } else if (frameTimeouts++ == 0) {
                framePeer = c.peer;
            }
        } else if (_opt.outputStallTimeoutSec > 0 && c.readPaused &&
                   now - c.pausedSince > _opt.outputStallTimeoutSec) {
            // Not reading its answers: over the cap for too long.
            _toClose.push_back(id);
            if (stalls++ == 0) stallPeer = c.peer + " (" + std::to_string(c.out.size() - c.outPos) + " bytes unsent)";
        }
    }
    if (frameTimeouts > 0) {
        _logFrameTimeout.held += frameTimeouts - 1;
        if (_logFrameTimeout.allow(ms)) {
            logger().warning("closed %s: no complete frame %d s after its first byte "
                             "(server.frame_timeout_sec; %z more closed for this since the last line)",
                             framePeer, _opt.frameTimeoutSec, static_cast<std::size_t>(_logFrameTimeout.held));
            _logFrameTimeout.held = 0;
        }
    }
    if (handshakeTimeouts > 0) {
        _logHandshakeTimeout.held += handshakeTimeouts - 1;
        if (_logHandshakeTimeout.allow(ms)) {
            logger().warning("closed %s: TLS handshake not complete %d s after the connection was accepted "
                             "(server.frame_timeout_sec; %z more closed for this since the last line)",
                             handshakePeer, _opt.frameTimeoutSec,
                             static_cast<std::size_t>(_logHandshakeTimeout.held));
            _logHandshakeTimeout.held = 0;
        }
    }
    if (stalls > 0) {
        _logStall.held += stalls - 1;
        if (_logStall.allow(ms)) {
            logger().warning("closed %s: answers not read for %d s (server.output_stall_timeout_sec; "
                             "%z more closed for this since the last line)",
                             stallPeer, _opt.outputStallTimeoutSec, static_cast<std::size_t>(_logStall.held));
            _logStall.held = 0;
        }
    }
    closePending();
    if (_opt.releaseFreeMemory) releaseFreeHeap();
}

} // namespace dora::net
