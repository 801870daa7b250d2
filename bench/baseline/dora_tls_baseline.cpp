// dora_tls_baseline — the other side of issue 16's choice: the Dora v1 echo
// route served the way dorahost would serve it if its TCP listener used Poco
// NetSSL instead of OpenSSL inside its own epoll loop. bench/run.sh drives it
// with the same `dora bench --api echo --proto v1 --tls` load as the host
// (scenario echo-tls-poco).
//
//   dora_tls_baseline [--host H] [--port P] [--cert PEM --key PEM]
//                     [--design threads|reactor] [--threads N]
//
// With --cert/--key it listens on a Poco::Net::SecureServerSocket whose
// context is built exactly as the host's HTTP gateway builds its Poco NetSSL
// context (TLS_SERVER_USE, cipher list DEFAULT, then
// net::configureServerContext: TLS 1.2 minimum, the same options); without
// them on a plain Poco::Net::ServerSocket, so the baseline shows its own
// plain cost. Two Poco server shapes:
//
//   threads  Poco::Net::TCPServer, one pooled thread per connection doing
//            blocking receiveBytes/sendBytes (Poco's usual server; the
//            gateway's HTTPServer is built on it). --threads caps the pool
//            and must be at least the number of connections.
//   reactor  one Poco::Net::SocketReactor thread (like the host's one I/O
//            loop) with a SocketAcceptor; sockets non-blocking, TLS
//            handshakes and reads resumed on ERR_SSL_WANT_READ/WRITE.
//
// Each v1 frame is decoded (length prefix, then the PHP-serialized body
// scanned for guid, type and api.one name/param without building values, as
// the host's fast path does) and answered with the bytes the host answers
// for an SSS echo call: [code 0, msg OK, data <the param bytes as sent>,
// guid]. Anything other than an SSS echo call is answered 100002.
//
// Prints "listening HOST:PORT" on stdout once it accepts (port 0 = any free
// one), then serves until SIGINT or SIGTERM.
#include "net/Tls.h"

#include <dora/sdk/serialize.h>
#include <dora/wire/Frame.h>

#include <Poco/Exception.h>
#include <Poco/NObserver.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/NetSSL.h>
#include <Poco/Net/SecureServerSocket.h>
#include <Poco/Net/SecureStreamSocket.h>
#include <Poco/Net/SecureStreamSocketImpl.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAcceptor.h>
#include <Poco/Net/SocketNotification.h>
#include <Poco/Net/SocketReactor.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/Net/TCPServer.h>
#include <Poco/Net/TCPServerConnection.h>
#include <Poco/Net/TCPServerConnectionFactory.h>
#include <Poco/Net/TCPServerParams.h>
#include <Poco/Thread.h>
#include <Poco/ThreadPool.h>

#include <signal.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <string_view>

namespace {

using dora::wire::Generation;

const dora::wire::FrameOptions kFrame;        // 2 MiB cap, no signature: the host's defaults
constexpr std::size_t kReadChunk = 16 * 1024; // one TLS record

// ------------------------------------------------------------ the echo route

/// Reads `s:N:"...";` at pos.
bool readString(std::string_view in, std::size_t& pos, std::string_view& out) {
    if (in.size() < pos + 2 || in[pos] != 's' || in[pos + 1] != ':') return false;
    std::size_t n = 0;
    const char* first = in.data() + pos + 2;
    auto r = std::from_chars(first, in.data() + in.size(), n);
    if (r.ec != std::errc() || r.ptr == first) return false;
    std::size_t at = static_cast<std::size_t>(r.ptr - in.data());
    if (in.size() < at + 2 || in[at] != ':' || in[at + 1] != '"') return false;
    at += 2;
    if (in.size() - at < n + 2 || in[at + n] != '"' || in[at + n + 1] != ';') return false;
    out = in.substr(at, n);
    pos = at + n + 2;
    return true;
}

/// Reads `a:N:{` at pos.
bool readArray(std::string_view in, std::size_t& pos, std::size_t& count) {
    if (in.size() < pos + 2 || in[pos] != 'a' || in[pos + 1] != ':') return false;
    const char* first = in.data() + pos + 2;
    auto r = std::from_chars(first, in.data() + in.size(), count);
    if (r.ec != std::errc() || r.ptr == first) return false;
    std::size_t at = static_cast<std::size_t>(r.ptr - in.data());
    if (in.size() < at + 2 || in[at] != ':' || in[at + 1] != '{') return false;
    pos = at + 2;
    return true;
}

/// Skips one value (checked by the SDK's rules: no objects, bounded depth).
bool skipValue(std::string_view in, std::size_t& pos, std::string_view* span = nullptr) {
    try {
        std::size_t n = dora::sdk::measure(in.substr(pos));
        if (span) *span = in.substr(pos, n);
        pos += n;
        return true;
    } catch (const dora::sdk::DecodeError&) {
        return false;
    }
}

/// A key: a string key's text, or "" for an int key (skipped).
bool readKey(std::string_view in, std::size_t& pos, std::string_view& key) {
    key = {};
    if (pos < in.size() && in[pos] == 's') return readString(in, pos, key);
    return skipValue(in, pos);
}

bool closeArray(std::string_view in, std::size_t& pos) {
    if (pos >= in.size() || in[pos] != '}') return false;
    ++pos;
    return true;
}

struct EchoRequest {
    std::string_view guid, type, name, param;
    std::size_t calls = 0;
};

/// [name => .., param => ..]
bool readCall(std::string_view in, std::size_t& pos, EchoRequest& r) {
    std::size_t n = 0;
    if (!readArray(in, pos, n)) return false;
    for (std::size_t i = 0; i < n; ++i) {
        std::string_view key;
        if (!readKey(in, pos, key)) return false;
        if (key == "name") {
            if (!readString(in, pos, r.name)) return false;
        } else if (!skipValue(in, pos, key == "param" ? &r.param : nullptr)) {
            return false;
        }
    }
    return closeArray(in, pos);
}

/// The v1 request body: [guid, type, api => [key => call, ...]].
bool readRequest(std::string_view in, EchoRequest& r) {
    std::size_t pos = 0, n = 0;
    if (!readArray(in, pos, n)) return false;
    for (std::size_t i = 0; i < n; ++i) {
        std::string_view key;
        if (!readKey(in, pos, key)) return false;
        if (key == "guid" || key == "type") {
            if (in.compare(pos, 2, "s:") != 0) {
                if (!skipValue(in, pos)) return false;
            } else if (!readString(in, pos, key == "guid" ? r.guid : r.type)) {
                return false;
            }
        } else if (key == "api") {
            std::size_t calls = 0;
            if (!readArray(in, pos, calls)) return false;
            r.calls = calls;
            for (std::size_t c = 0; c < calls; ++c) {
                std::string_view callKey;
                if (!readKey(in, pos, callKey) || !readCall(in, pos, r)) return false;
            }
            if (!closeArray(in, pos)) return false;
        } else if (!skipValue(in, pos)) {
            return false;
        }
    }
    return closeArray(in, pos) && pos == in.size();
}

void phpString(std::string& out, std::string_view s) {
    out += "s:";
    out += std::to_string(s.size());
    out += ":\"";
    out.append(s);
    out += "\";";
}

/// The v1 envelope the host writes (host/protocol/Response.cpp): code, msg,
/// data, guid, framed with the length prefix.
void appendAnswer(std::string& out, int code, std::string_view msg, std::string_view data,
                  std::string_view guid) {
    std::size_t start = dora::wire::beginFrame(out, Generation::V1, {}, kFrame);
    out += "a:4:{s:4:\"code\";i:";
    out += std::to_string(code);
    out += ";s:3:\"msg\";";
    phpString(out, msg);
    out += "s:4:\"data\";";
    out.append(data);
    out += "s:4:\"guid\";";
    phpString(out, guid);
    out += '}';
    dora::wire::finishFrame(out, start, Generation::V1, kFrame);
}

/// Answers every whole frame at the start of `in` (consumed from it) into
/// `out`. False: the stream is broken (bad length), close the connection.
bool serveFrames(std::string& in, std::string& out) {
    std::size_t used = 0;
    bool ok = true;
    while (used < in.size()) {
        dora::wire::Frame frame;
        std::size_t consumed = 0;
        auto st =
            dora::wire::parseFrame(std::string_view(in).substr(used), kFrame, frame, consumed);
        if (st == dora::wire::ParseStatus::NeedMore) break;
        if (st != dora::wire::ParseStatus::Ok) {
            appendAnswer(out, 100007, "packet length invalid", "a:0:{}", "");
            ok = false;
            break;
        }
        used += consumed;
        EchoRequest r;
        if (frame.generation == Generation::V1 && readRequest(frame.body, r) && r.type == "SSS" &&
            r.calls == 1 && r.name == "echo")
            appendAnswer(out, 0, "OK", r.param.empty() ? std::string_view("N;") : r.param, r.guid);
        else
            appendAnswer(out, 100002, "dora_tls_baseline serves only v1 SSS echo calls", "a:0:{}",
                         r.guid);
    }
    in.erase(0, used);
    return ok;
}

// ------------------------------------------------------------ threads: TCPServer

/// One connection on its own pool thread, blocking I/O (Poco's TCPServer).
class EchoConnection : public Poco::Net::TCPServerConnection {
public:
    using Poco::Net::TCPServerConnection::TCPServerConnection;

    void run() override {
        Poco::Net::StreamSocket& s = socket();
        s.setNoDelay(true);
        std::string in, out;
        char buf[kReadChunk];
        try {
            for (;;) {
                int n = s.receiveBytes(buf, sizeof buf);
                if (n <= 0) return;
                in.append(buf, static_cast<std::size_t>(n));
                bool keep = serveFrames(in, out);
                std::size_t sent = 0;
                while (sent < out.size()) {
                    int w = s.sendBytes(out.data() + sent, static_cast<int>(out.size() - sent));
                    if (w <= 0) return;
                    sent += static_cast<std::size_t>(w);
                }
                out.clear();
                if (!keep) return;
            }
        } catch (const Poco::Exception&) {
            // the client went away (or its handshake failed): drop it
        }
    }
};

// ------------------------------------------------------------ reactor: SocketReactor

/// One connection on the reactor thread, non-blocking. Deletes itself when
/// the connection ends (Poco's SocketAcceptor hands it over so).
class EchoHandler {
public:
    EchoHandler(Poco::Net::StreamSocket& socket, Poco::Net::SocketReactor& reactor)
        : _socket(socket), _reactor(reactor),
          _tls(dynamic_cast<Poco::Net::SecureStreamSocketImpl*>(socket.impl())) {
        _socket.setBlocking(false);
        _socket.setNoDelay(true);
        _reactor.addEventHandler(_socket, _readable);
    }

    ~EchoHandler() {
        _reactor.removeEventHandler(_socket, _readable);
        if (_wantWrite) _reactor.removeEventHandler(_socket, _writable);
    }

    void onReadable(const Poco::AutoPtr<Poco::Net::ReadableNotification>&) { pump(); }
    void onWritable(const Poco::AutoPtr<Poco::Net::WritableNotification>&) { pump(); }

private:
    /// Reads what is there, answers it, writes what can be written; asks
    /// for writability only while TLS or the socket wants it.
    void pump() {
        bool needWrite = false;
        try {
            char buf[kReadChunk];
            for (;;) {
                int n = receive(buf, sizeof buf);
                if (n == 0) return finish();
                if (n == Poco::Net::SecureStreamSocket::ERR_SSL_WANT_WRITE && _tls) {
                    needWrite = true;
                    break;
                }
                if (n < 0) break; // would block (ERR_SSL_WANT_READ is -1 too)
                _in.append(buf, static_cast<std::size_t>(n));
                // Plain: level-triggered poll calls again for what is left.
                // TLS: a record already read into OpenSSL is not on the fd.
                if (!_tls || _socket.available() <= 0) break;
            }
            if (!serveFrames(_in, _out)) _closing = true;
            while (_sent < _out.size()) {
                int w = send(_out.data() + _sent, _out.size() - _sent);
                if (w < 0) { // EAGAIN, ERR_SSL_WANT_READ/WRITE: resume later
                    needWrite =
                        needWrite || w != Poco::Net::SecureStreamSocket::ERR_SSL_WANT_READ || !_tls;
                    break;
                }
                _sent += static_cast<std::size_t>(w);
            }
            if (_sent == _out.size()) {
                _out.clear();
                _sent = 0;
                if (_closing) return finish();
            }
        } catch (const Poco::Exception&) {
            return finish();
        }
        if (needWrite != _wantWrite) {
            if (needWrite)
                _reactor.addEventHandler(_socket, _writable);
            else
                _reactor.removeEventHandler(_socket, _writable);
            _wantWrite = needWrite;
        }
    }

    // Poco 1.11's SecureStreamSocketImpl keeps setBlocking(false) from its
    // inner socket: the fd is non-blocking, so OpenSSL reports WANT_READ /
    // WANT_WRITE, but Poco then polls the still "blocking" inner socket with
    // the receive timeout (0) and throws TimeoutException instead of
    // returning ERR_SSL_WANT_READ/WRITE. Read that exception as "would block".
    int receive(char* buf, std::size_t len) {
        try {
            return _socket.receiveBytes(buf, static_cast<int>(len));
        } catch (const Poco::TimeoutException&) {
            if (!_tls) throw;
            return Poco::Net::SecureStreamSocket::ERR_SSL_WANT_READ;
        }
    }
    int send(const char* data, std::size_t len) {
        try {
            return _socket.sendBytes(data, static_cast<int>(len));
        } catch (const Poco::TimeoutException&) {
            if (!_tls) throw;
            return Poco::Net::SecureStreamSocket::ERR_SSL_WANT_WRITE; // the likelier; both resume
        }
    }

    void finish() { delete this; }

    Poco::Net::StreamSocket _socket;
    Poco::Net::SocketReactor& _reactor;
    Poco::Net::SecureStreamSocketImpl* _tls;
    Poco::NObserver<EchoHandler, Poco::Net::ReadableNotification> _readable{
        *this, &EchoHandler::onReadable};
    Poco::NObserver<EchoHandler, Poco::Net::WritableNotification> _writable{
        *this, &EchoHandler::onWritable};
    std::string _in, _out;
    std::size_t _sent = 0;
    bool _wantWrite = false, _closing = false;
};

// ------------------------------------------------------------ main

[[noreturn]] void usage(const std::string& why) {
    if (!why.empty()) std::cerr << "dora_tls_baseline: " << why << "\n";
    std::cerr
        << "usage: dora_tls_baseline [--host H] [--port P] [--cert PEM --key PEM]\n"
           "                         [--design threads|reactor] [--threads N]\n"
           "  --host H        address to listen on (default 127.0.0.1)\n"
           "  --port P        port (default 0: any free port)\n"
           "  --cert, --key   TLS (Poco NetSSL) with this certificate and key; without: plain TCP\n"
           "  --design D      threads: Poco TCPServer, a thread per connection (default);\n"
           "                  reactor: one Poco SocketReactor thread, non-blocking sockets\n"
           "  --threads N     threads design: pool size, at least the connections (default 128)\n";
    std::exit(why.empty() ? 0 : 2);
}

long number(const char* option, const char* text, long min, long max) {
    char* end = nullptr;
    errno = 0;
    long v = std::strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max)
        usage(std::string(option) + ": '" + text + "' is not a number in " + std::to_string(min) +
              ".." + std::to_string(max));
    return v;
}

/// The host gateway's Poco NetSSL context (host/frontends/HttpGateway.cpp).
Poco::Net::Context::Ptr serverContext(const std::string& cert, const std::string& key) {
    Poco::Net::Context::Params p;
    p.verificationMode = Poco::Net::Context::VERIFY_NONE; // configureServerContext sets it
    p.cipherList = "DEFAULT";
    Poco::Net::Context::Ptr context = new Poco::Net::Context(Poco::Net::Context::TLS_SERVER_USE, p);
    dora::net::TlsFiles files;
    files.cert = cert;
    files.key = key;
    dora::net::configureServerContext(context->sslContext(), files);
    return context;
}

} // namespace

int main(int argc, char** argv) {
    std::string host = "127.0.0.1", cert, key, design = "threads";
    long port = 0, threads = 128;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "-h" || a == "--help") usage("");
        if (i + 1 >= argc) usage("unknown argument or missing value: '" + a + "'");
        if (a == "--host")
            host = argv[++i];
        else if (a == "--port")
            port = number("--port", argv[++i], 0, 65535);
        else if (a == "--cert")
            cert = argv[++i];
        else if (a == "--key")
            key = argv[++i];
        else if (a == "--design")
            design = argv[++i];
        else if (a == "--threads")
            threads = number("--threads", argv[++i], 1, 4096);
        else
            usage("unknown argument '" + a + "'");
    }
    if (cert.empty() != key.empty()) usage("TLS needs both --cert and --key");
    if (design != "threads" && design != "reactor")
        usage("--design: '" + design + "' is not threads or reactor");

    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGPIPE);                  // a client gone mid-write: the write fails instead
    pthread_sigmask(SIG_BLOCK, &stop, nullptr); // every thread inherits the mask
    sigdelset(&stop, SIGPIPE);

    try {
        Poco::Net::ServerSocket socket;
        if (!cert.empty()) {
            Poco::Net::initializeSSL();
            socket = Poco::Net::SecureServerSocket(serverContext(cert, key));
        }
        socket.bind(Poco::Net::SocketAddress(host, static_cast<Poco::UInt16>(port)), true);
        socket.listen(256);
        const std::string where = host + ":" + std::to_string(socket.address().port());
        int sig = 0;
        if (design == "threads") {
            Poco::ThreadPool pool("dora-tls-baseline", 1, static_cast<int>(threads), 60);
            auto* params = new Poco::Net::TCPServerParams;
            params->setMaxThreads(static_cast<int>(threads));
            params->setMaxQueued(256);
            Poco::Net::TCPServer server(
                new Poco::Net::TCPServerConnectionFactoryImpl<EchoConnection>, pool, socket,
                params);
            server.start();
            std::cout << "listening " << where << " (" << (cert.empty() ? "plain" : "tls")
                      << ", threads)" << std::endl;
            sigwait(&stop, &sig);
            server.stop();
            // Blocked readers wake when the clients hang up (the bench's end).
            pool.joinAll();
        } else {
            Poco::Net::SocketReactor reactor;
            Poco::Net::SocketAcceptor<EchoHandler> acceptor(socket, reactor);
            Poco::Thread thread("dora-tls-reactor");
            thread.start(reactor);
            std::cout << "listening " << where << " (" << (cert.empty() ? "plain" : "tls")
                      << ", reactor)" << std::endl;
            sigwait(&stop, &sig);
            reactor.stop();
            thread.join();
        }
        if (!cert.empty()) Poco::Net::uninitializeSSL();
    } catch (const Poco::Exception& e) {
        std::cerr << "dora_tls_baseline: " << e.displayText() << "\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "dora_tls_baseline: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
