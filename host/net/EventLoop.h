// net/EventLoop.h — one epoll I/O thread: accepts, reads, frames and hands
// requests to a FrameHandler; writes answers that task workers post back.
// Answers cross threads through one locked outbox and one eventfd that is
// written only when the outbox goes from empty to non-empty.
//
// Bounds a client cannot push past (docs/protocol.md, "Connection limits"):
// unsent output per connection (reading stops above the cap and resumes
// below half of it; a connection that stays above for the stall timeout is
// closed), the time an incomplete frame may take, the connections held
// across all loops, and running out of descriptors at accept (the listener
// is parked for a moment instead of spinning). Timeouts are checked in the
// once-a-second sweep, and epoll interest changes only when a connection
// crosses the cap, so the per-request path costs the same syscalls as ever.
//
// TLS (server.tls): with LoopOptions::tls set, every connection of the loop
// is a non-blocking OpenSSL session on its socket: the handshake, reads and
// writes run here, in the same rounds, answering SSL's WANT_READ/WANT_WRITE
// through the epoll interest. The plain path differs only by a null
// `Connection::ssl` test on each read and write. The handshake must complete
// within server.frame_timeout_sec of the accept; a client that is not
// speaking TLS fails it and is closed (docs/protocol.md, "TLS").
#pragma once

#include "net/Tls.h"
#include "protocol/Wire.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace dora::net {

class EventLoop;

/// A client connection. Owned and touched only by its loop's thread.
struct Connection {
    std::uint64_t id = 0;
    int fd = -1;
    std::string in;          ///< unparsed input
    std::size_t inPos = 0;   ///< bytes of `in` already consumed
    std::string out;         ///< unsent output
    std::size_t outPos = 0;
    std::size_t inflight = 0;     ///< requests handed on, not yet answered
    bool closeAfterFlush = false; ///< stop reading; close once `out` is sent
    bool wantWrite = false;       ///< EPOLLOUT is in the interest set
    bool readPaused = false;      ///< over the output cap: EPOLLIN is not
    std::int64_t lastActive = 0;  ///< monotonic seconds
    std::int64_t pausedSince = 0; ///< when readPaused was set (monotonic s)
    /// When the first byte of the incomplete frame at the end of `in`
    /// arrived, or reading resumed after a pause (monotonic s); 0 = no
    /// incomplete frame.
    std::int64_t frameStart = 0;
    std::string peer;
    /// TLS only (null on a plain listener): the OpenSSL session on fd.
    ssl_st* ssl = nullptr;
    bool tlsHandshaking = false; ///< accepted, handshake not finished
    /// The handshake or an SSL_read waits for the socket to take bytes
    /// (EPOLLOUT is wanted even with nothing of ours to send).
    bool tlsWantWrite = false;
    bool tlsFailed = false; ///< a fatal TLS error: close without close_notify
};

/// What a loop calls for each complete frame, and at the end of each poll
/// round (to hand over the round's work in one batch).
class FrameHandler {
public:
    virtual ~FrameHandler() = default;
    /// A parsed frame. The handler may append an immediate answer to
    /// conn.out, count a pending request in conn.inflight, or set
    /// conn.closeAfterFlush.
    virtual void onFrame(EventLoop& loop, Connection& conn, const protocol::Frame& frame) = 0;
    /// A frame that cannot be parsed (too large, bad length): answer and close.
    virtual void onBadFrame(EventLoop& loop, Connection& conn, protocol::ParseStatus status) = 0;
    virtual void onRoundEnd(EventLoop& loop) = 0;
    virtual void onConnectionOpened(EventLoop&, Connection&) {}
    virtual void onConnectionClosed(EventLoop&, Connection&) {}
};

/// Connections open across every loop of one listener, against one cap.
/// Shared by the loops (atomic); owned by whoever builds them.
struct ConnectionBudget {
    explicit ConnectionBudget(std::size_t maxOpen) : max(maxOpen) {}
    const std::size_t max;
    std::atomic<std::size_t> open{0};
};

struct LoopOptions {
    protocol::FrameOptions frame;
    int idleTimeoutSec = 0;
    std::size_t readChunk = 64 * 1024; ///< the one read buffer per loop
    /// Unsent bytes a connection may hold before its loop stops reading it.
    std::size_t maxOutputBytes = 8 * 1024 * 1024;
    int outputStallTimeoutSec = 30; ///< 0 = never close for not reading
    int frameTimeoutSec = 10;       ///< 0 = an incomplete frame may wait forever
    /// Shared by all loops of the listener; null = no cap.
    std::shared_ptr<ConnectionBudget> budget;
    /// Gives freed heap back to the OS (tcmalloc) from this loop's sweep
    /// when much of it is held free; one loop of a process is enough.
    bool releaseFreeMemory = false;
    /// server.tls: the listener speaks TLS only (null = plain TCP).
    std::shared_ptr<TlsServerContext> tls;
};

class EventLoop {
public:
    /// listenFd is shared by all loops (each accepts from it).
    EventLoop(unsigned index, int listenFd, LoopOptions options, FrameHandler& handler);
    ~EventLoop();
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    void start();
    /// Stops accepting and reading; sends what is pending, then closes all.
    void stop();
    /// Thread-safe: takes the listener out of this loop for good (a drain),
    /// after accepting what waits in the backlog; open connections keep
    /// being served. Returns as sync() does.
    bool stopAccepting(int timeoutMs = 5000);
    /// Thread-safe: returns once the loop has finished the poll round it
    /// was in, so every frame it read before the call is with the handler
    /// (onRoundEnd ran). False if the loop did not confirm within timeoutMs.
    bool sync(int timeoutMs = 5000);

    /// Thread-safe: queues bytes for a connection (dropped if it is gone)
    /// and marks `completed` requests of it as answered.
    void post(std::uint64_t connId, std::string bytes, std::size_t completed = 1);

    unsigned index() const { return _index; }
    /// Steady-clock ns when this poll round's events came back (loop thread only).
    std::uint64_t roundStartNs() const { return _roundStartNs; }
    std::size_t connections() const { return _connCount.load(std::memory_order_relaxed); }
    std::uint64_t accepted() const { return _accepted.load(std::memory_order_relaxed); }

    /// An answer on its way to a connection.
    struct Posted {
        std::uint64_t connId;
        std::string bytes;
        std::size_t completed;
    };

private:

    void run();
    void acceptAll();
    void onReadable(Connection& c);
    /// Hands every complete frame at the start of `avail` to the handler;
    /// returns the bytes they took.
    std::size_t parseFrames(Connection& c, std::string_view avail);
    void flush(Connection& c);
    /// TLS: runs the handshake, then fills the read buffer from SSL_read;
    /// returns the bytes read (0: nothing yet, or the connection closes).
    std::size_t tlsRead(Connection& c);
    /// TLS: one handshake step; true once it is complete.
    bool tlsHandshake(Connection& c);
    void updateInterest(Connection& c);
    void close(Connection& c);
    void closePending();
    void drainOutbox();
    /// Once a second: idle, output stall and frame timeouts; heap release.
    void sweep();
    void pauseAccept(std::int64_t nowMs);
    void resumeAccept();

    /// At most one log line a second per kind; the rest are counted.
    struct Throttle {
        std::int64_t lastMs = -1000000;
        std::uint64_t held = 0;
        /// True when a line may go out now; `held` then says how many
        /// were held back before it (and is reset by the caller's read).
        bool allow(std::int64_t nowMs);
    };

    const unsigned _index;
    std::uint64_t _roundStartNs = 0;
    const int _listenFd;
    const LoopOptions _opt;
    FrameHandler& _handler;
    int _epoll = -1;
    int _wake = -1;
    std::thread _thread;
    std::atomic<bool> _running{false};
    std::atomic<bool> _stopRequested{false};

    std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> _conns;
    std::uint64_t _nextId;
    std::atomic<std::size_t> _connCount{0};
    std::atomic<std::uint64_t> _accepted{0};
    std::vector<std::uint64_t> _toClose;
    std::vector<char> _readBuf; ///< one read at a time, shared by all connections
    bool _acceptPaused = false;     ///< listen fd out of epoll (no descriptors)
    std::atomic<bool> _acceptStop{false}; ///< stopAccepting() asked (any thread)
    bool _acceptStopped = false;          ///< the loop took the listener out (loop thread)
    std::atomic<std::uint64_t> _syncAsked{0}; ///< sync() calls so far
    std::uint64_t _syncDone = 0;              ///< rounds confirmed (under _syncMutex)
    std::mutex _syncMutex;
    std::condition_variable _syncCv;
    void confirmSync(); ///< end of a round: stop accepting if asked, confirm
    std::int64_t _acceptResumeMs = 0;
    Throttle _logNoFds, _logOverCap, _logFrameTimeout, _logStall, _logTls, _logHandshakeTimeout;
    /// TLS connections whose SSL buffer still holds bytes a full read
    /// buffer left behind (epoll will not report them): read next round.
    std::vector<std::uint64_t> _tlsAgain, _tlsAgainRun;

    std::mutex _outboxMutex;
    std::vector<Posted> _outbox;
    std::vector<Posted> _draining;
    std::atomic<bool> _wakePending{false};
};

/// Opens a non-blocking listening TCP socket ("host", port 0 = any free
/// port). Throws std::runtime_error naming the address.
int listenTcp(const std::string& host, std::uint16_t port, int backlog = 4096);
/// The port a socket is bound to.
std::uint16_t boundPort(int fd);

} // namespace dora::net
