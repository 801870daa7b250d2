// http_baseline — the bound of dorahost's HTTP gateway on this machine: a
// bare Poco::Net::HTTPServer with the gateway's thread and keep-alive
// settings whose one handler reads the whole request body and answers a
// fixed small JSON document. bench/run.sh drives it and the gateway's
// POST /api/multisync with the same wrk script.
//
//   http_baseline [--host H] [--port P] [--threads N]
//
// Prints "listening HOST:PORT" on stdout once it accepts (port 0 = any
// free one), then serves until SIGINT or SIGTERM.
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/ThreadPool.h>

#include <signal.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>

namespace {

// The shape and size of the gateway's answer to one echo call.
const std::string kAnswer =
    "{\"guid\":\"5d41402abc4b2a76b9719d911017c592\",\"code\":0,\"msg\":\"OK\",\"data\":{\"hi\":"
    "{\"guid\":\"5d41402abc4b2a76b9719d911017c592\",\"code\":0,\"msg\":\"OK\",\"data\":{"
    "\"msg\":\"hello\"}}}}";

class Handler : public Poco::Net::HTTPRequestHandler {
public:
    void handleRequest(Poco::Net::HTTPServerRequest& req,
                       Poco::Net::HTTPServerResponse& resp) override {
        std::string body;
        char buf[4096];
        std::istream& in = req.stream();
        while (in.read(buf, sizeof buf) || in.gcount() > 0)
            body.append(buf, static_cast<std::size_t>(in.gcount()));
        resp.setStatus(Poco::Net::HTTPResponse::HTTP_OK);
        resp.setContentType("application/json; charset=utf-8");
        resp.setContentLength(static_cast<std::streamsize>(kAnswer.size()));
        resp.send().write(kAnswer.data(), static_cast<std::streamsize>(kAnswer.size()));
    }
};

class Factory : public Poco::Net::HTTPRequestHandlerFactory {
public:
    Poco::Net::HTTPRequestHandler*
    createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
        return new Handler;
    }
};

[[noreturn]] void usage(const std::string& why) {
    if (!why.empty()) std::cerr << "http_baseline: " << why << "\n";
    std::cerr << "usage: http_baseline [--host H] [--port P] [--threads N]\n"
                 "  --host H      address to listen on (default 127.0.0.1)\n"
                 "  --port P      port (default 0: any free port)\n"
                 "  --threads N   Poco handler threads (default 32, as the gateway's minimum)\n";
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

} // namespace

int main(int argc, char** argv) {
    std::string host = "127.0.0.1";
    long port = 0, threads = 32;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "-h" || a == "--help") usage("");
        if (i + 1 >= argc) usage("unknown argument or missing value: '" + a + "'");
        if (a == "--host")
            host = argv[++i];
        else if (a == "--port")
            port = number("--port", argv[++i], 0, 65535);
        else if (a == "--threads")
            threads = number("--threads", argv[++i], 1, 1024);
        else
            usage("unknown argument '" + a + "'");
    }

    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, nullptr); // every thread inherits the mask

    try {
        Poco::Net::ServerSocket socket;
        socket.bind(Poco::Net::SocketAddress(host, static_cast<Poco::UInt16>(port)), true);
        socket.listen(256);
        Poco::ThreadPool pool("http-baseline", 1, static_cast<int>(threads), 60);
        auto* params = new Poco::Net::HTTPServerParams;
        params->setMaxThreads(static_cast<int>(threads));
        params->setMaxQueued(256);
        params->setKeepAlive(true);
        params->setKeepAliveTimeout(Poco::Timespan(5, 0));
        params->setTimeout(Poco::Timespan(30, 0));
        Poco::Net::HTTPServer server(new Factory, pool, socket, params);
        server.start();
        std::cout << "listening " << host << ":" << socket.address().port() << std::endl;
        int sig = 0;
        sigwait(&stop, &sig);
        server.stopAll(true);
        pool.joinAll();
    } catch (const Poco::Exception& e) {
        std::cerr << "http_baseline: " << e.displayText() << "\n";
        return 1;
    }
    return 0;
}
