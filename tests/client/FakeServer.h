// tests/client/FakeServer.h — a tiny Dora server on a thread, for the
// seams a real host never shows on purpose: answers with a wrong guid,
// silence, acceptance followed by a closed connection. It speaks real
// frames through the host's protocol library.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>

namespace dora::test {

class FakeServer {
public:
    enum class Behavior {
        Answer,          ///< a correct answer: every call returns the string "fake"
        WrongGuid,       ///< a well-formed answer carrying another guid
        Silent,          ///< reads requests, never answers
        AcceptThenClose, ///< answers 100001 "accepted", then closes the connection
    };

    /// Listens on 127.0.0.1:port (0: a free port) and serves until destroyed.
    explicit FakeServer(Behavior b, std::uint16_t port = 0);
    ~FakeServer();
    FakeServer(const FakeServer&) = delete;
    FakeServer& operator=(const FakeServer&) = delete;

    std::uint16_t port() const { return _port; }
    int requests() const { return _requests.load(); }

private:
    void run();

    Behavior _behavior;
    int _listen = -1;
    int _stop[2] = {-1, -1};
    std::uint16_t _port = 0;
    std::atomic<int> _requests{0};
    std::thread _thread;
};

} // namespace dora::test
