// tests/net/TlsTest.cpp — server.tls against the real host binary over real
// loopback sockets (issue 16, TLS): v1 and v2 echo and a MariaDB write with
// the C++ client over TLS, mutual TLS, a plain-text client on the TLS port,
// TLS below 1.2, a handshake that never completes, HTTPS with curl, the
// `dora` CLI, and the startup errors for bad files. The certificates are
// made here, at test time, with the openssl CLI (a throwaway CA, a server
// certificate for 127.0.0.1 and localhost, client certificates).
#include "common/TestSupport.h"

#include <dora/client/Client.h>

#include <cppunit/extensions/HelperMacros.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

using dora::sdk::Value;
using namespace dora::test;
namespace dc = dora::client;

namespace {

using Clock = std::chrono::steady_clock;

void sh(const std::string& cmd) {
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("failed: " + cmd);
}

/// The certificates, made once per run in a temporary folder.
struct Certs {
    std::string dir;
    std::string ca() const { return dir + "/ca.pem"; }
    std::string cert() const { return dir + "/server.pem"; }
    std::string key() const { return dir + "/server.key"; }
    std::string clientCert() const { return dir + "/client.pem"; }
    std::string clientKey() const { return dir + "/client.key"; }
    /// Signed by another CA than ca.pem.
    std::string strangerCert() const { return dir + "/stranger.pem"; }
    std::string strangerKey() const { return dir + "/stranger.key"; }
    /// A key that belongs to no certificate here.
    std::string otherKey() const { return dir + "/other.key"; }

    Certs() {
        char tmpl[] = "/tmp/dora-tls-XXXXXX";
        if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
        dir = tmpl;
        const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
        const std::string q = " 2>/dev/null";
        auto ca = [&](const std::string& name, const std::string& cn) {
            sh("openssl req -x509" + ec + " -days 2 -subj '/CN=" + cn + "' -keyout " + dir + "/" + name +
               ".key -out " + dir + "/" + name + ".pem" + q);
        };
        auto leaf = [&](const std::string& name, const std::string& cn, const std::string& signer,
                        const std::string& ext) {
            std::ofstream(dir + "/" + name + ".ext") << ext;
            sh("openssl req" + ec + " -subj '/CN=" + cn + "' -keyout " + dir + "/" + name + ".key -out " + dir +
               "/" + name + ".csr" + q);
            sh("openssl x509 -req -days 2 -in " + dir + "/" + name + ".csr -CA " + dir + "/" + signer +
               ".pem -CAkey " + dir + "/" + signer + ".key -CAcreateserial -extfile " + dir + "/" + name +
               ".ext -out " + dir + "/" + name + ".pem" + q);
        };
        ca("ca", "dorahost test CA");
        ca("otherca", "another test CA");
        leaf("server", "localhost", "ca",
             "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
        leaf("nameonly", "localhost", "ca", "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n");
        leaf("client", "dora test client", "ca", "extendedKeyUsage=clientAuth\n");
        leaf("stranger", "dora stranger", "otherca", "extendedKeyUsage=clientAuth\n");
        sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out " + otherKey() + q);
    }
    ~Certs() {
        if (std::system(("rm -rf '" + dir + "'").c_str()) != 0) {
        }
    }
};

const Certs& certs() {
    static Certs c;
    return c;
}

/// server: keys for a TLS host (indented for HostProcess::Options::serverYaml).
std::string tlsYaml(bool mutual = false, const std::string& extra = "") {
    std::string y = "  tls:\n    cert: " + certs().cert() + "\n    key: " + certs().key() + "\n";
    if (mutual) y += "    client_ca: " + certs().ca() + "\n";
    return y + extra;
}

HostProcess::Options tlsHost(bool mutual = false, const std::string& extra = "") {
    HostProcess::Options o;
    o.serverYaml = tlsYaml(mutual, extra);
    return o;
}

dc::ClientOptions clientOptions(std::uint16_t port, dc::Generation gen, const std::string& host = "127.0.0.1") {
    dc::ClientOptions o;
    o.servers = {dc::Server{host, port}};
    o.generation = gen;
    o.timeoutMs = 10000;
    o.tls.enabled = true;
    o.tls.caFile = certs().ca();
    return o;
}

Value param(const std::string& k, const Value& v) {
    Value p = Value::array();
    p.set(k, v);
    return p;
}

std::string callText(const dc::Result& r) {
    return "code " + std::to_string(r.code) + " " + r.msg + " / " + r.errorText();
}

/// A blocking OpenSSL handshake with the host, with the given protocol
/// bounds; returns "" on success, else OpenSSL's reason.
std::string rawHandshake(std::uint16_t port, int minVersion, int maxVersion, const char* ciphers) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, minVersion);
    SSL_CTX_set_max_proto_version(ctx, maxVersion);
    if (ciphers) SSL_CTX_set_cipher_list(ctx, ciphers);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    WireClient tcp(port);
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, tcp.fd());
    int flags = fcntl(tcp.fd(), F_GETFL);
    fcntl(tcp.fd(), F_SETFL, flags & ~O_NONBLOCK);
    timeval tv{10, 0};
    setsockopt(tcp.fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int r = SSL_connect(ssl);
    std::string out;
    if (r != 1) {
        unsigned long e = ERR_get_error();
        char buf[256] = "no OpenSSL error (the connection was closed)";
        if (e) ERR_error_string_n(e, buf, sizeof buf);
        out = buf;
    }
    ERR_clear_error();
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    return out;
}

/// A blocking raw TLS client (no certificate check) for what the C++
/// client never does: half frames, and never reading.
class RawTls {
public:
    explicit RawTls(std::uint16_t port) : _tcp(port) {
        _ctx = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_verify(_ctx, SSL_VERIFY_NONE, nullptr);
        _ssl = SSL_new(_ctx);
        SSL_set_fd(_ssl, _tcp.fd());
        int flags = fcntl(_tcp.fd(), F_GETFL);
        fcntl(_tcp.fd(), F_SETFL, flags & ~O_NONBLOCK);
        timeval tv{1, 0}; // a write the host does not take fails after 1 s
        setsockopt(_tcp.fd(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        setsockopt(_tcp.fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (SSL_connect(_ssl) != 1) throw std::runtime_error("raw TLS handshake failed");
    }
    ~RawTls() {
        SSL_free(_ssl);
        SSL_CTX_free(_ctx);
        ERR_clear_error();
    }
    /// False once the host stops taking bytes (or closed).
    bool write(const std::string& bytes) { return push(bytes, Clock::now()) == 1; }
    /// Writes all of `bytes`, waiting while the host does not read, until
    /// `until`: 1 written, 0 the deadline passed, -1 the host closed.
    int push(const std::string& bytes, Clock::time_point until) {
        std::size_t at = 0;
        while (at < bytes.size()) {
            int n = SSL_write(_ssl, bytes.data() + at, static_cast<int>(bytes.size() - at));
            if (n > 0) {
                at += static_cast<std::size_t>(n);
                continue;
            }
            int e = SSL_get_error(_ssl, n);
            ERR_clear_error();
            const bool timedOut = e == SSL_ERROR_WANT_WRITE ||
                                  (e == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK));
            if (!timedOut) return -1;
            if (Clock::now() >= until) return 0;
        }
        return 1;
    }
    /// True when the host closed the connection (reading and dropping what
    /// it sent first) within timeoutMs.
    bool closedByPeer(int timeoutMs) {
        auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
        char buf[65536];
        while (Clock::now() < deadline) {
            int n = SSL_read(_ssl, buf, sizeof buf);
            if (n > 0) continue;
            int e = SSL_get_error(_ssl, n);
            ERR_clear_error();
            if (e == SSL_ERROR_ZERO_RETURN) return true;
            if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_SSL) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) continue; // SO_RCVTIMEO
                return true;
            }
        }
        return false;
    }

private:
    WireClient _tcp;
    SSL_CTX* _ctx = nullptr;
    SSL* _ssl = nullptr;
};

long rssKb(int pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return -1;
}

struct Run {
    int status = -1;
    std::string out;
};

/// A command's exit status and its stdout+stderr.
Run run(const std::string& cmd) {
    Run r;
    std::FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
    if (!p) return r;
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, p))
        r.out.append(buf, n);
    int st = ::pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
}

} // namespace

class TlsTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(TlsTest);
    CPPUNIT_TEST(testEchoV1AndV2OverTls);
    CPPUNIT_TEST(testLargeAndPipelinedOverTls);
    CPPUNIT_TEST(testSyncUserWritesMariaDbOverTls);
    CPPUNIT_TEST(testMutualTls);
    CPPUNIT_TEST(testPlainClientOnTlsPortClosedCleanly);
    CPPUNIT_TEST(testTlsBelow12Refused);
    CPPUNIT_TEST(testStalledHandshakeClosedAfterFrameTimeout);
    CPPUNIT_TEST(testLimitsHoldOverTls);
    CPPUNIT_TEST(testHttpsWithCurl);
    CPPUNIT_TEST(testCliOverTls);
    CPPUNIT_TEST(testServerCertificateChecked);
    CPPUNIT_TEST(testStartupErrors);
    CPPUNIT_TEST(testClientRaisesNoSigpipe);
    CPPUNIT_TEST_SUITE_END();

public:
    void testEchoV1AndV2OverTls() {
        HostProcess host(tlsHost());
        for (auto gen : {dc::Generation::V1, dc::Generation::V2, dc::Generation::Json}) {
            dc::Client c(clientOptions(host.port(), gen));
            for (int i = 0; i < 3; ++i) { // the same connection, kept open
                dc::Result r = c.call("echo", param("n", Value(static_cast<long long>(i))));
                CPPUNIT_ASSERT_MESSAGE(callText(r), r.ok());
                CPPUNIT_ASSERT_EQUAL(std::size_t(1), r.calls.size());
                CPPUNIT_ASSERT_EQUAL(static_cast<std::int64_t>(i), r.calls[0].data.find("n")->asInt());
            }
            CPPUNIT_ASSERT_EQUAL(std::size_t(1), c.openConnections());
        }
        // By name too: the certificate's DNS entry is checked.
        dc::Client byName(clientOptions(host.port(), dc::Generation::V2, "localhost"));
        dc::Result r = byName.call("echo", param("who", Value("localhost")));
        CPPUNIT_ASSERT_MESSAGE(callText(r), r.ok());
        CPPUNIT_ASSERT(host.running());
    }

    void testLargeAndPipelinedOverTls() {
        // A 1.5 MB echo spans ~100 TLS records each way and fills the
        // socket buffers: partial SSL writes, WANT_WRITE, and reads that
        // leave records inside OpenSSL for the next round.
        HostProcess host(tlsHost());
        dc::Client c(clientOptions(host.port(), dc::Generation::V2));
        std::string big(1500 * 1000, 'x');
        for (std::size_t i = 0; i < big.size(); i += 7) big[i] = static_cast<char>('a' + i % 26);
        dc::Result r = c.call("echo", param("blob", Value(big)));
        CPPUNIT_ASSERT_MESSAGE(callText(r), r.ok());
        CPPUNIT_ASSERT(r.calls[0].data.find("blob")->asString() == big);
        std::vector<dc::Request> reqs;
        for (int i = 0; i < 200; ++i)
            reqs.push_back(dc::Request::single("echo", param("i", Value(static_cast<long long>(i)))));
        auto results = c.pipeline(reqs);
        CPPUNIT_ASSERT_EQUAL(std::size_t(200), results.size());
        for (int i = 0; i < 200; ++i) {
            CPPUNIT_ASSERT_MESSAGE(callText(results[static_cast<std::size_t>(i)]), results[static_cast<std::size_t>(i)].ok());
            CPPUNIT_ASSERT_EQUAL(static_cast<std::int64_t>(i),
                                 results[static_cast<std::size_t>(i)].calls[0].data.find("i")->asInt());
        }
    }

    void testSyncUserWritesMariaDbOverTls() {
        prepareTestDatabase();
        Db db;
        db.exec("DELETE FROM users WHERE name LIKE 'tls-%'");
        HostProcess host(tlsHost());
        dc::Client c(clientOptions(host.port(), dc::Generation::V1));
        Value p = Value::array();
        p.set("name", "tls-alice");
        p.set("department", "crypto");
        dc::Result r = c.call("add_user", p);
        CPPUNIT_ASSERT_MESSAGE(callText(r), r.ok());
        CPPUNIT_ASSERT(r.calls[0].data.find("id")->asInt() > 0);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1),
                             db.scalar("SELECT COUNT(*) FROM users WHERE name='tls-alice' AND department='crypto'"));
        db.exec("DELETE FROM users WHERE name LIKE 'tls-%'");
    }

    void testMutualTls() {
        HostProcess host(tlsHost(true));
        {
            // No client certificate: the host refuses the handshake (with TLS
            // 1.3 the client learns it at its first read).
            dc::Client c(clientOptions(host.port(), dc::Generation::V2));
            dc::Result r = c.call("echo", param("a", Value(1)));
            CPPUNIT_ASSERT_MESSAGE(callText(r), !r.ok());
        }
        {
            // A certificate signed by another CA: refused too.
            auto o = clientOptions(host.port(), dc::Generation::V2);
            o.tls.certFile = certs().strangerCert();
            o.tls.keyFile = certs().strangerKey();
            dc::Client c(o);
            dc::Result r = c.call("echo", param("a", Value(1)));
            CPPUNIT_ASSERT_MESSAGE(callText(r), !r.ok());
        }
        auto o = clientOptions(host.port(), dc::Generation::V2);
        o.tls.certFile = certs().clientCert();
        o.tls.keyFile = certs().clientKey();
        dc::Client c(o);
        dc::Result r = c.call("echo", param("a", Value(1)));
        CPPUNIT_ASSERT_MESSAGE(callText(r), r.ok());
        // Logged (the second refusal, in the same second, is held back by
        // the once-a-second throttle).
        bool logged = waitUntil([&] {
            return host.log().find("failed: error:0A0000C7:SSL routines::peer did not return a certificate") !=
                   std::string::npos;
        }, 5000);
        CPPUNIT_ASSERT_MESSAGE(host.log(), logged);
        CPPUNIT_ASSERT(host.running());
    }

    void testPlainClientOnTlsPortClosedCleanly() {
        HostProcess host(tlsHost());
        for (int round = 0; round < 3; ++round) {
            WireClient plain(host.port());
            plain.sendRaw(v1Frame(v1Request(newGuid(), "SSS", oneCall("echo", param("a", Value(1))))));
            auto t0 = Clock::now();
            CPPUNIT_ASSERT_MESSAGE("a plain client is closed, not left hanging", plain.closedByPeer(5000));
            CPPUNIT_ASSERT(Clock::now() - t0 < std::chrono::seconds(3));
            // And a TLS client is served right after.
            dc::Client c(clientOptions(host.port(), dc::Generation::V1));
            dc::Result r = c.call("echo", param("after", Value(round)));
            CPPUNIT_ASSERT_MESSAGE(callText(r), r.ok());
        }
        CPPUNIT_ASSERT(host.running());
        CPPUNIT_ASSERT(host.log().find("wrong version number") != std::string::npos);
    }

    void testTlsBelow12Refused() {
        HostProcess host(tlsHost());
        // TLS 1.0 and 1.1 need security level 0 in OpenSSL 3 on the client
        // side; the refusal must come from the host (its protocol_version alert).
        std::string why = rawHandshake(host.port(), TLS1_VERSION, TLS1_1_VERSION, "DEFAULT:@SECLEVEL=0");
        CPPUNIT_ASSERT_MESSAGE(why, why.find("alert protocol version") != std::string::npos);
        // The same client allowed 1.2 gets in.
        CPPUNIT_ASSERT_EQUAL(std::string(), rawHandshake(host.port(), TLS1_2_VERSION, TLS1_2_VERSION, nullptr));
        CPPUNIT_ASSERT_EQUAL(std::string(), rawHandshake(host.port(), TLS1_3_VERSION, TLS1_3_VERSION, nullptr));
        CPPUNIT_ASSERT(host.running());
    }

    void testStalledHandshakeClosedAfterFrameTimeout() {
        HostProcess host(tlsHost(false, "  frame_timeout_sec: 1\n"));
        WireClient silent(host.port()); // connects, never says hello
        WireClient half(host.port());   // a ClientHello's first bytes only
        half.sendRaw(std::string("\x16\x03\x01\x02\x00\x01", 6));
        auto t0 = Clock::now();
        CPPUNIT_ASSERT(silent.closedByPeer(6000));
        CPPUNIT_ASSERT(half.closedByPeer(2000));
        auto took = Clock::now() - t0;
        // frame_timeout_sec 1, checked once a second: closed within 1-3 s.
        CPPUNIT_ASSERT(took >= std::chrono::milliseconds(900));
        CPPUNIT_ASSERT(took < std::chrono::seconds(4));
        CPPUNIT_ASSERT(waitUntil([&] { return host.log().find("TLS handshake not complete") != std::string::npos; }, 3000));
        dc::Client c(clientOptions(host.port(), dc::Generation::V2));
        CPPUNIT_ASSERT(c.call("echo", param("a", Value(1))).ok());
    }

    void testLimitsHoldOverTls() {
        // The loop's limits count what is inside TLS: a half frame after
        // the handshake meets frame_timeout_sec, a client that never reads
        // meets max_output_bytes and output_stall_timeout_sec.
        {
            HostProcess host(tlsHost(false, "  frame_timeout_sec: 1\n"));
            RawTls half(host.port());
            CPPUNIT_ASSERT(half.write(std::string("\x00\x00\x10\x00", 4) + "abc")); // 4 KiB announced, 3 sent
            CPPUNIT_ASSERT(half.closedByPeer(4000));
            CPPUNIT_ASSERT(host.log().find("no complete frame 1 s after its first byte") != std::string::npos);
        }
        // (A host of its own: the frame timeout also runs on a connection
        // the host stopped reading mid-frame, and would close it first.)
        HostProcess host(tlsHost(false, "  frame_timeout_sec: 30\n  max_output_bytes: 64KiB\n"
                                        "  output_stall_timeout_sec: 2\n"));
        const long rssBefore = rssKb(host.pid());
        // The deaf client pushes echo requests and reads nothing: the
        // kernel buffers fill, the host's answers pass the cap, it stops
        // reading, and 2 s later closes the connection.
        auto oldPipe = std::signal(SIGPIPE, SIG_IGN); // the raw client writes with write(2)
        RawTls deaf(host.port());
        const std::string frame =
            v1Frame(v1Request(newGuid(), "SSS", oneCall("echo", param("blob", Value(std::string(100000, 'x'))))));
        std::size_t sent = 0;
        int r = 1;
        const auto until = Clock::now() + std::chrono::seconds(30);
        dc::Client good(clientOptions(host.port(), dc::Generation::V2));
        while ((r = deaf.push(frame, until)) == 1) {
            sent += frame.size();
            if (sent % (20 * frame.size()) == 0) CPPUNIT_ASSERT(good.call("echo", param("a", Value(1))).ok());
        }
        std::signal(SIGPIPE, oldPipe);
        CPPUNIT_ASSERT_EQUAL_MESSAGE("the host closed the deaf client", -1, r);
        CPPUNIT_ASSERT(waitUntil([&] { return host.log().find("answers not read for 2 s") != std::string::npos; }, 5000));
        const long rssAfter = rssKb(host.pid());
        std::cout << "\n  TLS limits: RSS " << rssBefore << " kB -> " << rssAfter << " kB, " << sent
                  << " bytes taken from the deaf client before its close" << std::endl;
        CPPUNIT_ASSERT_MESSAGE(std::to_string(rssAfter), rssAfter - rssBefore < 64 * 1024);
        CPPUNIT_ASSERT(good.call("echo", param("a", Value(2))).ok());
    }

    void testHttpsWithCurl() {
        HostProcess::Options o = tlsHost();
        o.httpPort = freePort();
        HostProcess host(o);
        const std::string g = "5d41402abc4b2a76b9719d911017c592";
        const std::string body = "params={\"guid\":\"" + g + "\",\"api\":{\"hi\":{\"name\":\"echo\",\"param\":{\"say\":\"hi\"}}}}";
        const std::string url = "https://127.0.0.1:" + std::to_string(host.httpPort()) + "/api/multisync";
        Run r = run("curl -sS --max-time 10 --cacert " + certs().ca() + " --data '" + body + "' " + url);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.out, 0, r.status);
        CPPUNIT_ASSERT_EQUAL(std::string("{\"guid\":\"" + g + "\",\"code\":0,\"msg\":\"OK\",\"data\":{\"hi\":{\"guid\":\"" + g +
                                         "\",\"code\":0,\"msg\":\"OK\",\"data\":{\"say\":\"hi\"}}}}"),
                             r.out);
        // By name, and only TLS 1.2+.
        Run named = run("curl -sS --max-time 10 --tlsv1.2 --cacert " + certs().ca() + " --resolve localhost:" +
                        std::to_string(host.httpPort()) + ":127.0.0.1 --data '" + body + "' https://localhost:" +
                        std::to_string(host.httpPort()) + "/api/multisync");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(named.out, 0, named.status);
        // Plain HTTP to the HTTPS port: refused, and the gateway serves on.
        Run plain = run("curl -sS --max-time 10 --data '" + body + "' http://127.0.0.1:" +
                        std::to_string(host.httpPort()) + "/api/multisync");
        CPPUNIT_ASSERT_MESSAGE(plain.out, plain.status != 0);
        // Without the CA, curl does not trust the host.
        Run untrusted = run("curl -sS --max-time 10 --data '" + body + "' " + url);
        CPPUNIT_ASSERT_MESSAGE(untrusted.out, untrusted.status != 0);
        Run again = run("curl -sS --max-time 10 --cacert " + certs().ca() + " --data '" + body + "' " + url);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(again.out, r.out, again.out);
        CPPUNIT_ASSERT(host.running());
    }

    void testCliOverTls() {
        HostProcess host(tlsHost(true));
        const std::string dora = buildDir() + "/bin/dora";
        const std::string srv = " --server 127.0.0.1:" + std::to_string(host.port());
        const std::string mine = " --cert " + certs().clientCert() + " --key " + certs().clientKey();
        Run ok = run(dora + " call echo '{\"say\":\"tls\"}'" + srv + " --tls --ca " + certs().ca() + mine);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(ok.out, 0, ok.status);
        CPPUNIT_ASSERT_EQUAL(std::string("{\"say\":\"tls\"}\n"), ok.out);
        Run v1 = run(dora + " call echo '{\"n\":1}' --proto v1" + srv + " --tls --ca " + certs().ca() + mine);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(v1.out, 0, v1.status);
        // No client certificate: refused.
        Run nocert = run(dora + " call echo '{}'" + srv + " --tls --ca " + certs().ca());
        CPPUNIT_ASSERT_MESSAGE(nocert.out, nocert.status != 0);
        // Not trusting the host's CA: the handshake fails on our side.
        Run untrusted = run(dora + " call echo '{}'" + srv + " --tls" + mine);
        CPPUNIT_ASSERT_MESSAGE(untrusted.out, untrusted.status != 0);
        CPPUNIT_ASSERT_MESSAGE(untrusted.out, untrusted.out.find("certificate") != std::string::npos);
        // Usage errors.
        Run usage = run(dora + " call echo '{}'" + srv + " --ca " + certs().ca());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(usage.out, 2, usage.status);
        // dora bench --tls: a short echo run, every request answered.
        Run bench = run(dora + " bench --api echo -c 4 -n 400 --quiet" + srv + " --tls --ca " + certs().ca() + mine);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(bench.out, 0, bench.status);
    }

    void testServerCertificateChecked() {
        {
            HostProcess host(tlsHost());
            // A CA that did not sign the host's certificate.
            auto o = clientOptions(host.port(), dc::Generation::V2);
            o.tls.caFile = certs().dir + "/otherca.pem";
            dc::Client c(o);
            dc::Result r = c.call("echo", param("a", Value(1)));
            CPPUNIT_ASSERT_MESSAGE(callText(r), !r.ok());
            CPPUNIT_ASSERT_MESSAGE(r.msg, r.msg.find("certificate was not accepted") != std::string::npos);
        }
        // A certificate for the name localhost only: dialling 127.0.0.1 is
        // refused by the client (the IP is not in it), localhost is served.
        HostProcess::Options o;
        o.serverYaml = "  tls:\n    cert: " + certs().dir + "/nameonly.pem\n    key: " + certs().dir + "/nameonly.key\n";
        HostProcess host(o);
        dc::Result byIp = dc::Client(clientOptions(host.port(), dc::Generation::V2)).call("echo", param("a", Value(1)));
        CPPUNIT_ASSERT_MESSAGE(callText(byIp), !byIp.ok());
        CPPUNIT_ASSERT_MESSAGE(byIp.msg, byIp.msg.find("mismatch") != std::string::npos);
        dc::Result byName =
            dc::Client(clientOptions(host.port(), dc::Generation::V2, "localhost")).call("echo", param("a", Value(1)));
        CPPUNIT_ASSERT_MESSAGE(callText(byName), byName.ok());
        CPPUNIT_ASSERT(host.running());
    }

    void testStartupErrors() {
        auto startError = [](HostProcess::Options o) -> std::string {
            try {
                HostProcess h(o);
            } catch (const std::exception& e) {
                return e.what();
            }
            return "(it started)";
        };
        HostProcess::Options missing;
        missing.serverYaml = "  tls:\n    cert: /nonexistent/server.pem\n    key: " + certs().key() + "\n";
        std::string m = startError(missing);
        CPPUNIT_ASSERT_MESSAGE(m, m.find("server.tls.cert (or DORAHOST_TLS_CERT) names /nonexistent/server.pem, "
                                         "which cannot be read: No such file or directory.") != std::string::npos);

        HostProcess::Options mismatch;
        mismatch.serverYaml = "  tls:\n    cert: " + certs().cert() + "\n    key: " + certs().otherKey() + "\n";
        m = startError(mismatch);
        CPPUNIT_ASSERT_MESSAGE(m, m.find("server.tls.key " + certs().otherKey() +
                                         " does not match the certificate in server.tls.cert " + certs().cert()) !=
                                      std::string::npos);

        HostProcess::Options notPem;
        notPem.serverYaml = "  tls:\n    cert: " + certs().key() + "\n    key: " + certs().key() + "\n";
        m = startError(notPem);
        CPPUNIT_ASSERT_MESSAGE(m, m.find("is not a PEM certificate") != std::string::npos);

        HostProcess::Options half;
        half.serverYaml = "  tls:\n    cert: " + certs().cert() + "\n";
        m = startError(half);
        CPPUNIT_ASSERT_MESSAGE(m, m.find("server.tls.cert is set but server.tls.key is not") != std::string::npos);

        // The environment overrides name the same files.
        HostProcess::Options env;
        env.env = {{"DORAHOST_TLS_CERT", certs().cert()}, {"DORAHOST_TLS_KEY", "/nonexistent/key.pem"}};
        m = startError(env);
        CPPUNIT_ASSERT_MESSAGE(m, m.find("server.tls.key (or DORAHOST_TLS_KEY) names /nonexistent/key.pem") !=
                                      std::string::npos);
        env.env = {{"DORAHOST_TLS_CERT", certs().cert()}, {"DORAHOST_TLS_KEY", certs().key()}};
        HostProcess viaEnv(env);
        dc::Client c(clientOptions(viaEnv.port(), dc::Generation::V2));
        CPPUNIT_ASSERT(c.call("echo", param("a", Value(1))).ok());
    }

    void testClientRaisesNoSigpipe() {
        // The client library writes TLS with send(MSG_NOSIGNAL) like its
        // plain path: a server gone mid-write is an error, not a SIGPIPE
        // that kills the caller (the dora CLI does not ignore SIGPIPE).
        auto old = std::signal(SIGPIPE, SIG_DFL);
        int sv[2];
        CPPUNIT_ASSERT_EQUAL(0, ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
        ::close(sv[1]);
        dc::TlsOptions o;
        o.enabled = true;
        o.caFile = certs().ca();
        dc::TlsContext ctx(o);
        SSL* ssl = ctx.session(sv[0], "127.0.0.1");
        const int r = SSL_connect(ssl); // the ClientHello's write fails: EPIPE
        CPPUNIT_ASSERT(r != 1);
        CPPUNIT_ASSERT_EQUAL(SSL_ERROR_SYSCALL, SSL_get_error(ssl, r));
        ERR_clear_error();
        SSL_free(ssl);
        ::close(sv[0]);
        std::signal(SIGPIPE, old);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(TlsTest);
