#include "client/FakeServer.h"

#include "protocol/Codes.h"
#include <dora/wire/Frame.h>
#include "protocol/Request.h"
#include "protocol/Response.h"

#include <dora/sdk/serialize.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace dora::test {

namespace proto = dora::protocol;

FakeServer::FakeServer(Behavior b, std::uint16_t port) : _behavior(b) {
    _listen = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(_listen, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (::bind(_listen, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(_listen, 16) != 0) {
        ::close(_listen);
        throw std::runtime_error("fake server: cannot listen on port " + std::to_string(port));
    }
    socklen_t len = sizeof a;
    ::getsockname(_listen, reinterpret_cast<sockaddr*>(&a), &len);
    _port = ntohs(a.sin_port);
    if (::pipe(_stop) != 0) throw std::runtime_error("pipe");
    _thread = std::thread([this] { run(); });
}

FakeServer::~FakeServer() {
    char c = 'x';
    if (::write(_stop[1], &c, 1) != 1) {
    }
    _thread.join();
    ::close(_listen);
    ::close(_stop[0]);
    ::close(_stop[1]);
}

void FakeServer::run() {
    std::map<int, std::string> conns; // fd -> unread bytes
    proto::FrameOptions fo;
    proto::EncodeOptions eo;
    for (;;) {
        std::vector<pollfd> fds{{_stop[0], POLLIN, 0}, {_listen, POLLIN, 0}};
        for (auto& [fd, buf] : conns)
            fds.push_back({fd, POLLIN, 0});
        if (::poll(fds.data(), fds.size(), 1000) < 0) continue;
        if (fds[0].revents) break;
        if (fds[1].revents) {
            int fd = ::accept4(_listen, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd >= 0) conns[fd] = {};
        }
        for (std::size_t k = 2; k < fds.size(); ++k) {
            if (!fds[k].revents) continue;
            int fd = fds[k].fd;
            char tmp[65536];
            ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
            if (n <= 0) {
                ::close(fd);
                conns.erase(fd);
                continue;
            }
            std::string& buf = conns[fd];
            buf.append(tmp, static_cast<std::size_t>(n));
            std::string out;
            bool closeAfter = false;
            for (;;) {
                proto::Frame frame;
                std::size_t used = 0;
                if (proto::parseFrame(buf, fo, frame, used) != proto::ParseStatus::Ok) break;
                proto::Request req;
                proto::RequestError err;
                bool ok = proto::decodeRequest(frame, {}, 1 << 24, req, err);
                buf.erase(0, used);
                ++_requests;
                if (!ok || _behavior == Behavior::Silent) continue;
                proto::Addressee to{req.generation, req.guid};
                if (_behavior == Behavior::WrongGuid) to.guid = "ffffffffffffffffffffffffffffffff";
                if (_behavior == Behavior::AcceptThenClose) {
                    proto::appendStatusAnswer(out, to, proto::code::kAccepted, "transfer success.",
                                              dora::sdk::Value(), eo);
                    closeAfter = true;
                    continue;
                }
                proto::CallOutcome fake{0, "", dora::sdk::serialize(dora::sdk::Value("fake"))};
                if (proto::isMulti(req.mode)) {
                    std::vector<std::pair<dora::sdk::Key, proto::CallOutcome>> results;
                    for (const auto& c : req.calls)
                        results.emplace_back(c.key, fake);
                    proto::appendMultiAnswer(out, to, results, eo);
                } else {
                    proto::appendSingleAnswer(out, to, fake, eo);
                }
            }
            if (!out.empty() && ::send(fd, out.data(), out.size(), MSG_NOSIGNAL) < 0)
                closeAfter = true;
            if (closeAfter) {
                ::close(fd);
                conns.erase(fd);
            }
        }
    }
    for (auto& [fd, buf] : conns)
        ::close(fd);
}

} // namespace dora::test
