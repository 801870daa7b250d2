#include <dora/client/Client.h>
#include <dora/client/Discovery.h>

#include <dora/wire/Endpoint.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <stdexcept>

namespace dora::client {

using dora::sdk::Value;
using Clock = std::chrono::steady_clock;

namespace {

int msLeft(Clock::time_point deadline) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left < 0 ? 0 : static_cast<int>(left);
}

Result failure(int c, std::string msg, const std::string& guid) {
    Result r;
    r.code = c;
    r.msg = std::move(msg);
    r.guid = guid;
    return r;
}

/// Nothing ran: the same request may go to another server.
bool safeToRetry(int c) {
    switch (c) {
    case code::kNoServer: // no connection could be made
    case 100202:          // busy: the host's task queue is full
    case 100206:          // too many requests in flight on the connection
    case 100209:          // host shutting down: nothing of the request ran
        return true;
    default:
        return false;
    }
}

/// The request may have run: only an idempotent one is sent again.
bool unsafeToRetry(int c) {
    switch (c) {
    case code::kTimeout:
    case code::kGuidMismatch:
    case code::kBadAnswer:
    case code::kClosedEarly:
        return true;
    default:
        return false;
    }
}

} // namespace

// ------------------------------------------------------------- Server

std::string Server::toString() const {
    std::string p = std::to_string(port);
    return host.find(':') != std::string::npos ? "[" + host + "]:" + p : host + ":" + p;
}

Server parseServer(std::string_view text) {
    dora::wire::Endpoint ep = dora::wire::parseEndpoint(text);
    if (ep.port == 0)
        throw std::invalid_argument("port 0 is not a server port: '" + std::string(text) + "'");
    return Server{ep.host, ep.port};
}

Request Request::single(std::string_view api, const Value& param, Mode mode) {
    return Request{mode, false, singleApi(api, param)};
}

Request Request::multiple(const Value& calls, Mode mode) { return Request{mode, true, calls}; }

// --------------------------------------------------------- Connection

/// One TCP connection to one server, blocking with poll() deadlines; with
/// TLS, an OpenSSL session on the non-blocking socket, driven the same way.
class Client::Connection {
public:
    enum class Read { Frame, Timeout, Closed, Bad };

    Connection(int fd, std::size_t serverIndex, std::uint64_t connId)
        : _fd(fd), server(serverIndex), id(connId) {}
    ~Connection() {
        if (_ssl) {
            if (SSL_is_init_finished(_ssl)) SSL_shutdown(_ssl); // close_notify, one try
            SSL_free(_ssl);
            ERR_clear_error();
        }
        ::close(_fd);
    }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    /// Waits for the socket as an SSL call asked (WANT_READ/WANT_WRITE);
    /// false when the deadline passed first.
    bool waitFor(int sslError, Clock::time_point deadline) {
        pollfd p{_fd, static_cast<short>(sslError == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN), 0};
        for (;;) {
            int n = ::poll(&p, 1, msLeft(deadline));
            if (n < 0 && errno == EINTR) continue;
            return n > 0;
        }
    }

    /// The TLS handshake, within the deadline; err says why it failed.
    bool handshake(const TlsContext& tls, const std::string& host, Clock::time_point deadline, std::string& err) {
        try {
            _ssl = tls.session(_fd, host);
        } catch (const std::exception& e) {
            err = e.what();
            return false;
        }
        for (;;) {
            int r = SSL_connect(_ssl);
            if (r == 1) return true;
            int e = SSL_get_error(_ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                if (waitFor(e, deadline)) continue;
                ERR_clear_error();
                err = "TLS handshake timed out";
                return false;
            }
            err = "TLS handshake failed: " + tlsFailure(_ssl);
            return false;
        }
    }

    static std::unique_ptr<Connection> open(const Server& s, std::size_t index, std::uint64_t id,
                                            int timeoutMs, const TlsContext* tls, std::string& err) {
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        addrinfo* res = nullptr;
        std::string port = std::to_string(s.port);
        int rc = ::getaddrinfo(s.host.c_str(), port.c_str(), &hints, &res);
        if (rc != 0) {
            err = std::string("cannot resolve: ") + gai_strerror(rc);
            return nullptr;
        }
        std::unique_ptr<Connection> out;
        err = "no address";
        for (addrinfo* a = res; a && !out; a = a->ai_next) {
            int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
            if (fd < 0) {
                err = std::strerror(errno);
                continue;
            }
            if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
                err = std::strerror(errno);
                ::close(fd);
                continue;
            }
            pollfd p{fd, POLLOUT, 0};
            int n = ::poll(&p, 1, timeoutMs);
            int soerr = 0;
            socklen_t len = sizeof soerr;
            if (n <= 0) {
                err = n == 0 ? "connect timed out after " + std::to_string(timeoutMs) + " ms"
                             : std::string(std::strerror(errno));
                ::close(fd);
                continue;
            }
            ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
            if (soerr != 0) {
                err = std::strerror(soerr);
                ::close(fd);
                continue;
            }
            int one = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            out = std::make_unique<Connection>(fd, index, id);
            if (tls && !out->handshake(*tls, s.host, Clock::now() + std::chrono::milliseconds(timeoutMs), err))
                out.reset(); // closes fd
        }
        ::freeaddrinfo(res);
        return out;
    }

    /// True when the peer closed (or reset) the connection while it sat idle.
    bool stale() {
        if (_pos < _in.size()) return false;
        if (_ssl && SSL_pending(_ssl) > 0) return false;
        pollfd p{_fd, POLLIN | POLLRDHUP, 0};
        if (::poll(&p, 1, 0) <= 0) return false;
        if (p.revents & (POLLERR | POLLHUP | POLLRDHUP)) return true;
        if (_ssl) {
            // Session tickets are taken here; a close_notify means closed.
            char c;
            int r = SSL_peek(_ssl, &c, 1);
            if (r > 0) return false;
            int e = SSL_get_error(_ssl, r);
            ERR_clear_error();
            return e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE;
        }
        char c;
        ssize_t n = ::recv(_fd, &c, 1, MSG_PEEK);
        return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
    }

    bool sendAll(std::string_view bytes, Clock::time_point deadline, std::string& err) {
        while (_ssl && !bytes.empty()) {
            int n = SSL_write(_ssl, bytes.data(), static_cast<int>(std::min<std::size_t>(bytes.size(), INT_MAX)));
            if (n > 0) {
                bytes.remove_prefix(static_cast<std::size_t>(n));
                continue;
            }
            int e = SSL_get_error(_ssl, n);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                if (waitFor(e, deadline)) continue;
                err = "send timed out";
                return false;
            }
            err = "send failed: TLS: " + tlsFailure(nullptr);
            return false;
        }
        while (!bytes.empty()) {
            ssize_t n = ::send(_fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n > 0) {
                bytes.remove_prefix(static_cast<std::size_t>(n));
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                pollfd p{_fd, POLLOUT, 0};
                int r = ::poll(&p, 1, msLeft(deadline));
                if (r == 0) {
                    err = "send timed out";
                    return false;
                }
                continue;
            }
            err = std::string("send failed: ") + std::strerror(errno);
            return false;
        }
        return true;
    }

    /// Takes one answer already buffered, without I/O.
    TakeStatus take(const WireOptions& opt, Result& r, Generation& gen, std::string& err) {
        std::size_t used = 0;
        std::string_view avail(_in.data() + _pos, _in.size() - _pos);
        r = Result{};
        TakeStatus st = takeAnswer(avail, opt, r, gen, used, err);
        if (st != TakeStatus::Ok) return st;
        _pos += used;
        if (_pos == _in.size()) {
            _in.clear();
            _pos = 0;
        }
        return st;
    }

    /// Waits for bytes until the deadline and appends what one read gives.
    /// Returns Frame when bytes arrived (not necessarily a whole frame).
    Read receive(Clock::time_point deadline, std::string& err) {
        if (_pos > 0 && _pos * 2 > _in.size()) {
            _in.erase(0, _pos);
            _pos = 0;
        }
        if (_ssl) return receiveTls(deadline, err);
        for (;;) {
            pollfd p{_fd, POLLIN, 0};
            int n = ::poll(&p, 1, msLeft(deadline));
            if (n < 0 && errno == EINTR) continue;
            if (n == 0) return Read::Timeout;
            char buf[65536];
            ssize_t got = ::recv(_fd, buf, sizeof buf, 0);
            if (got > 0) {
                _in.append(buf, static_cast<std::size_t>(got));
                return Read::Frame;
            }
            if (got < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
            err = got == 0 ? "connection closed by the server"
                           : std::string("receive failed: ") + std::strerror(errno);
            return Read::Closed;
        }
    }

    /// receive() over TLS: everything OpenSSL has decrypted goes to _in,
    /// so nothing waits inside the session where poll() cannot see it.
    Read receiveTls(Clock::time_point deadline, std::string& err) {
        char buf[65536];
        for (;;) {
            int got = SSL_read(_ssl, buf, sizeof buf);
            if (got > 0) {
                _in.append(buf, static_cast<std::size_t>(got));
                if (SSL_pending(_ssl) > 0) continue;
                return Read::Frame;
            }
            int e = SSL_get_error(_ssl, got);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                if (waitFor(e, deadline)) continue;
                return Read::Timeout;
            }
            err = e == SSL_ERROR_ZERO_RETURN ? std::string("connection closed by the server")
                                             : "receive failed: TLS: " + tlsFailure(nullptr);
            ERR_clear_error();
            return Read::Closed;
        }
    }

    /// The next answer; frames already buffered come first.
    Read next(const WireOptions& opt, Clock::time_point deadline, Result& r, Generation& gen,
              std::string& err) {
        for (;;) {
            TakeStatus st = take(opt, r, gen, err);
            if (st == TakeStatus::Ok) return Read::Frame;
            if (st == TakeStatus::Bad) return Read::Bad;
            Read got = receive(deadline, err);
            if (got != Read::Frame) return got;
        }
    }

    int fd() const { return _fd; }

private:
    int _fd;
    SSL* _ssl = nullptr;
    std::string _in;
    std::size_t _pos = 0;

public:
    const std::size_t server;
    const std::uint64_t id;
};

/// Where an accepted AM_* request's pushed result will arrive.
struct Client::Pending {
    std::uint64_t connId = 0;
    bool multi = false;
    std::string server;
};

// ------------------------------------------------------------- Client

Client::Client(ClientOptions options) : _opt(std::move(options)), _rng(std::random_device{}()) {
    if (_opt.tls.enabled) _tls = std::make_shared<TlsContext>(_opt.tls);
    if (_opt.servers.empty() && !_opt.registry.empty()) {
        RegistryAddress at = parseRegistry(_opt.registry);
        _opt.servers = discover(at, _opt.group, _opt.connectTimeoutMs);
        if (_opt.servers.empty())
            throw std::runtime_error("no live server of group '" + _opt.group + "' in the registry at " +
                                     at.toString());
    }
    if (_opt.servers.empty()) throw std::invalid_argument("no server given");
    _conns.resize(_opt.servers.size());
    _blocked.assign(_opt.servers.size(), false);
}

bool Client::refresh() {
    if (_opt.registry.empty() || !_async.empty()) return false;
    std::vector<Server> found;
    try {
        found = discover(parseRegistry(_opt.registry), _opt.group, _opt.connectTimeoutMs);
    } catch (const std::exception&) {
        return false;
    }
    if (found.empty()) return false;
    _conns.clear();
    _opt.servers = std::move(found);
    _conns.resize(_opt.servers.size());
    _blocked.assign(_opt.servers.size(), false);
    return true;
}

bool Client::retryable(int c, bool control) const {
    return safeToRetry(c) || ((control || _opt.retryUnsafe) && unsafeToRetry(c));
}

Client::~Client() = default;

std::vector<Server> Client::blockedServers() const {
    std::vector<Server> out;
    for (std::size_t i = 0; i < _blocked.size(); ++i)
        if (_blocked[i]) out.push_back(_opt.servers[i]);
    return out;
}

std::size_t Client::openConnections() const {
    return static_cast<std::size_t>(
        std::count_if(_conns.begin(), _conns.end(), [](const auto& c) { return c != nullptr; }));
}

std::size_t Client::asyncPending() const { return _async.size(); }

void Client::disconnect() {
    for (auto& c : _conns)
        if (c) drop(c.get(), code::kClosedEarly, "client disconnected before the async result");
}

void Client::drop(Connection* c, int failCode, const std::string& why) {
    std::uint64_t id = c->id;
    std::size_t slot = c->server;
    for (auto it = _async.begin(); it != _async.end();) {
        if (it->second->connId == id) {
            Result r = failure(failCode, why, it->first);
            r.server = it->second->server;
            _asyncDone[it->first] = std::move(r);
            it = _async.erase(it);
        } else {
            ++it;
        }
    }
    _conns[slot].reset();
}

Client::Connection* Client::acquire(Result& fail) {
    std::size_t n = _opt.servers.size();
    if (std::all_of(_blocked.begin(), _blocked.end(), [](bool b) { return b; }))
        _blocked.assign(n, false);
    std::string tried;
    for (;;) {
        std::vector<std::size_t> open;
        for (std::size_t i = 0; i < n; ++i)
            if (!_blocked[i]) open.push_back(i);
        if (open.empty()) break;
        std::size_t i = open[std::uniform_int_distribution<std::size_t>(0, open.size() - 1)(_rng)];
        if (_conns[i]) {
            if (!_conns[i]->stale()) return _conns[i].get();
            drop(_conns[i].get(), code::kClosedEarly,
                 "connection closed by the server before the async result");
        }
        std::string err;
        auto c = Connection::open(_opt.servers[i], i, _nextConnId++, _opt.connectTimeoutMs, _tls.get(), err);
        if (c) {
            _conns[i] = std::move(c);
            return _conns[i].get();
        }
        _blocked[i] = true;
        if (!tried.empty()) tried += "; ";
        tried += _opt.servers[i].toString() + ": " + err;
    }
    // Every server failed: start afresh next time, as the DoraRPC client does.
    _blocked.assign(n, false);
    fail.code = code::kNoServer;
    fail.msg = "there is no one server can connect (" + tried + ")";
    return nullptr;
}

bool Client::onStray(Connection& c, Result&& r, Generation gen) {
    auto it = _async.find(r.guid);
    if (it == _async.end() || !r.isResult) return false;
    splitCalls(r, gen, it->second->multi);
    r.server = _opt.servers[c.server].toString();
    _asyncDone[r.guid] = std::move(r);
    _async.erase(it);
    return true;
}

bool Client::awaitAnswer(Connection& c, const std::string& want, bool multi, Result& r) {
    auto deadline = Clock::now() + std::chrono::milliseconds(_opt.timeoutMs);
    std::string server = _opt.servers[c.server].toString();
    for (;;) {
        Result ans;
        Generation gen = _opt.generation;
        std::string err;
        switch (c.next(_opt.wire, deadline, ans, gen, err)) {
        case Connection::Read::Timeout:
            drop(&c, code::kTimeout, "the recive wrong or timeout");
            r = failure(code::kTimeout,
                        "the recive wrong or timeout: no answer from " + server + " in " +
                            std::to_string(_opt.timeoutMs) + " ms",
                        want);
            return false;
        case Connection::Read::Closed:
            drop(&c, code::kClosedEarly, err + " before the async result");
            r = failure(code::kTimeout, "the recive wrong or timeout: " + err + " (" + server + ")",
                        want);
            return false;
        case Connection::Read::Bad:
            drop(&c, code::kClosedEarly, "bad answer on the connection: " + err);
            r = failure(code::kBadAnswer, err + " (" + server + ")", want);
            return false;
        case Connection::Read::Frame:
            break;
        }
        // The host answers a request it could not read with an empty guid.
        if (ans.guid == want || (ans.guid.empty() && ans.code != code::kOk)) {
            ans.guid = want;
            ans.server = server;
            if (ans.code == code::kOk) splitCalls(ans, gen, multi);
            r = std::move(ans);
            return true;
        }
        std::string got = ans.guid;
        if (onStray(c, std::move(ans), gen)) continue;
        drop(&c, code::kGuidMismatch, "guid mismatch on the connection");
        r = failure(code::kGuidMismatch,
                    "guid wrong please retry: sent " + want + ", answer for '" + got + "' from " +
                        server,
                    want);
        return false;
    }
}

Result Client::once(const Request& req, const std::string& guid, const std::string& bytes,
                    std::string_view type) {
    Result fail;
    fail.guid = guid;
    Connection* c = acquire(fail);
    if (!c) return fail;
    std::string err;
    auto deadline = Clock::now() + std::chrono::milliseconds(_opt.timeoutMs);
    if (!c->sendAll(bytes, deadline, err)) {
        // Part of the request may have reached the server: not "no server".
        std::string server = _opt.servers[c->server].toString();
        drop(c, code::kClosedEarly, err);
        return failure(code::kClosedEarly, err + " (" + server + ")", guid);
    }
    bool push = req.mode == Mode::AsyncResult && type != kControlType;
    if (push) {
        auto p = std::make_unique<Pending>();
        p->connId = c->id;
        p->multi = req.multi;
        p->server = _opt.servers[c->server].toString();
        _async[guid] = std::move(p);
    }
    Result r;
    const std::size_t slot = c->server;
    bool ok = awaitAnswer(*c, guid, req.multi && type != kControlType, r);
    if (type == kControlType) r.calls.clear();
    if (ok && r.code == 100209 && _conns[slot]) {
        // That host is draining: nothing more goes there.
        _blocked[slot] = true;
        drop(_conns[slot].get(), code::kClosedEarly, "the server is shutting down");
    }
    if (push) {
        if (ok && r.isResult) {
            // The pushed result overtook the acceptance: keep it, report accepted.
            Result done = r;
            _asyncDone[guid] = std::move(done);
            _async.erase(guid);
            r.code = code::kAccepted;
            r.isResult = false;
            r.calls.clear();
        } else if (r.code != code::kAccepted) {
            // Not accepted: no result will come.
            _async.erase(guid);
            _asyncDone.erase(guid);
        }
    }
    return r;
}

Result Client::execute(const Request& req) {
    std::string guid = newGuid();
    std::string_view type = typeName(_opt.generation, req.mode, req.multi);
    std::string bytes;
    appendRequest(bytes, _opt.generation, guid, type, req.api, _opt.wire);
    Result r;
    for (int attempt = 0; attempt <= _opt.retry; ++attempt) {
        r = once(req, guid, bytes, type);
        if (!retryable(r.code, false)) break;
        if (r.code == code::kNoServer) refresh(); // every known server failed
    }
    return r;
}

Result Client::call(std::string_view api, const Value& param, Mode mode) {
    return execute(Request::single(api, param, mode));
}

Result Client::multi(const Value& calls, Mode mode) {
    return execute(Request::multiple(calls, mode));
}

Result Client::control(std::string_view command, const Value& param) {
    Value cmd = Value::array();
    cmd.set("name", Value(command));
    Value p = param.isArray() ? param : Value::array();
    if (!_opt.controlToken.empty()) p.set("token", _opt.controlToken);
    cmd.set("param", std::move(p));
    Value api = Value::array();
    api.set("cmd", std::move(cmd));
    Request req{Mode::Sync, false, std::move(api)};
    std::string guid = newGuid();
    std::string bytes;
    appendRequest(bytes, _opt.generation, guid, kControlType, req.api, _opt.wire);
    Result r;
    for (int attempt = 0; attempt <= _opt.retry; ++attempt) {
        r = once(req, guid, bytes, kControlType);
        if (!retryable(r.code, true)) break;
        if (r.code == code::kNoServer) refresh();
    }
    return r;
}

Result Client::getStat() { return control("getStat", Value()); }
Result Client::reloadTask() { return control("reloadTask", Value()); }

std::vector<Result> Client::pipeline(const std::vector<Request>& reqs) {
    std::vector<Result> out(reqs.size());
    if (reqs.empty()) return out;
    std::map<std::string, std::size_t> index;
    std::string bytes;
    for (std::size_t i = 0; i < reqs.size(); ++i) {
        out[i].guid = newGuid();
        index[out[i].guid] = i;
        appendRequest(bytes, _opt.generation, out[i].guid,
                      typeName(_opt.generation, reqs[i].mode, reqs[i].multi), reqs[i].api,
                      _opt.wire);
    }
    auto failRest = [&](std::vector<bool>& done, int c, const std::string& msg) {
        for (std::size_t i = 0; i < out.size(); ++i)
            if (!done[i]) {
                std::string g = out[i].guid;
                out[i] = failure(c, msg, g);
                if (reqs[i].mode == Mode::AsyncResult) _async.erase(g);
            }
    };
    std::vector<bool> done(reqs.size(), false);
    Result fail;
    Connection* c = acquire(fail);
    if (!c) {
        failRest(done, fail.code, fail.msg);
        return out;
    }
    std::string server = _opt.servers[c->server].toString();
    std::string err;
    if (!c->sendAll(bytes, Clock::now() + std::chrono::milliseconds(_opt.timeoutMs), err)) {
        drop(c, code::kClosedEarly, err);
        failRest(done, code::kNoServer, err + " (" + server + ")");
        return out;
    }
    for (std::size_t i = 0; i < reqs.size(); ++i) {
        if (reqs[i].mode != Mode::AsyncResult) continue;
        auto p = std::make_unique<Pending>();
        p->connId = c->id;
        p->multi = reqs[i].multi;
        p->server = server;
        _async[out[i].guid] = std::move(p);
    }
    std::size_t remaining = reqs.size();
    auto deadline = Clock::now() + std::chrono::milliseconds(_opt.timeoutMs);
    while (remaining > 0) {
        Result ans;
        Generation gen = _opt.generation;
        auto st = c->next(_opt.wire, deadline, ans, gen, err);
        if (st != Connection::Read::Frame) {
            int fc = st == Connection::Read::Bad ? code::kBadAnswer : code::kTimeout;
            std::string msg = st == Connection::Read::Timeout
                                  ? "the recive wrong or timeout: no answer from " + server +
                                        " in " + std::to_string(_opt.timeoutMs) + " ms"
                                  : err + " (" + server + ")";
            failRest(done, fc, msg);
            drop(c, st == Connection::Read::Timeout ? code::kTimeout : code::kClosedEarly, msg);
            return out;
        }
        // Every answer pushes the deadline: it bounds silence, not the batch.
        deadline = Clock::now() + std::chrono::milliseconds(_opt.timeoutMs);
        auto it = index.find(ans.guid);
        std::size_t i = it == index.end() ? out.size() : it->second;
        if (i == out.size() && ans.guid.empty() && ans.code != code::kOk)
            i = static_cast<std::size_t>(std::find(done.begin(), done.end(), false) - done.begin());
        if (i < out.size() && !done[i] &&
            !(ans.isResult && reqs[i].mode == Mode::AsyncResult &&
              _async.count(out[i].guid) == 0)) {
            ans.guid = out[i].guid;
            ans.server = server;
            if (reqs[i].mode == Mode::AsyncResult && ans.isResult) {
                // Result before acceptance: keep it for asyncResults().
                onStray(*c, Result(ans), gen);
                ans.code = code::kAccepted;
                ans.isResult = false;
            } else if (ans.code == code::kOk) {
                splitCalls(ans, gen, reqs[i].multi);
            }
            if (reqs[i].mode == Mode::AsyncResult && ans.code != code::kAccepted)
                _async.erase(ans.guid);
            out[i] = std::move(ans);
            done[i] = true;
            --remaining;
            continue;
        }
        std::string got = ans.guid;
        if (onStray(*c, std::move(ans), gen)) continue;
        std::string msg =
            "guid wrong please retry: answer for unknown guid '" + got + "' from " + server;
        failRest(done, code::kGuidMismatch, msg);
        drop(c, code::kGuidMismatch, msg);
        return out;
    }
    return out;
}

std::map<std::string, Result> Client::asyncResults(int timeoutMs) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
    auto owes = [&](const Connection& c) {
        return std::any_of(_async.begin(), _async.end(),
                           [&](const auto& p) { return p.second->connId == c.id; });
    };
    while (!_async.empty()) {
        // Results already read (e.g. together with an earlier answer) first.
        for (auto& c : _conns) {
            if (!c || !owes(*c)) continue;
            for (;;) {
                Result ans;
                Generation gen = _opt.generation;
                std::string err;
                TakeStatus st = c->take(_opt.wire, ans, gen, err);
                if (st == TakeStatus::NeedMore) break;
                if (st == TakeStatus::Bad) {
                    drop(c.get(), code::kClosedEarly, "bad answer on the connection: " + err);
                    break;
                }
                onStray(*c, std::move(ans), gen); // anything else is dropped, as DoraRPC does
            }
        }
        // Then wait on every connection that still owes a result at once.
        std::vector<pollfd> fds;
        std::vector<Connection*> owners;
        for (auto& c : _conns)
            if (c && owes(*c)) {
                fds.push_back(pollfd{c->fd(), POLLIN, 0});
                owners.push_back(c.get());
            }
        if (owners.empty()) {
            // Their connections are gone (drop() already recorded them).
            for (auto& [g, p] : _async)
                _asyncDone[g] = failure(code::kClosedEarly, "connection lost before the result", g);
            _async.clear();
            break;
        }
        int n = ::poll(fds.data(), fds.size(), msLeft(deadline));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        for (std::size_t k = 0; k < owners.size(); ++k) {
            if (!fds[k].revents) continue;
            std::string err;
            if (owners[k]->receive(Clock::now(), err) == Connection::Read::Closed)
                drop(owners[k], code::kClosedEarly,
                     "connection closed before the async result: " + err);
        }
    }
    // A connection that owes a timed-out result could still deliver it
    // later and confuse the next call: close it (drop() records the rest).
    std::string why =
        "the recive wrong or timeout: no async result in " + std::to_string(timeoutMs) + " ms";
    for (auto& c : _conns)
        if (c && owes(*c)) drop(c.get(), code::kTimeout, why);
    for (auto& [g, p] : _async)
        _asyncDone[g] = failure(code::kTimeout, why, g);
    _async.clear();
    std::map<std::string, Result> out;
    out.swap(_asyncDone);
    return out;
}

} // namespace dora::client
