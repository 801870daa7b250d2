// frontends/TcpFrontEnd.h — the Dora TCP front end: turns the frames an
// event loop parses into requests for the runner (decode, validate, limits)
// and the runner's outcomes back into frames (encoded on the thread that
// finished the request, posted to the connection's loop). A poll round's
// calls reach the task pool in one batch.
#pragma once

#include "dispatch/ControlCommands.h"
#include "dispatch/RequestRunner.h"
#include "net/EventLoop.h"
#include "protocol/Request.h"
#include "protocol/Response.h"
#include "protocol/Signing.h"
#include "stats/Stats.h"

#include <atomic>
#include <string_view>
#include <vector>

namespace dora::frontends {

struct TcpOptions {
    protocol::EncodeOptions encode;
    protocol::RequestLimits limits;
    std::size_t maxBodyBytes = 2 * 1024 * 1024; ///< cap after gunzip
    std::size_t maxInflightPerConnection = 1000;
    /// Set when the host drains: new requests are answered 100209 (control
    /// commands still run). Null = never. Owned by the server.
    const std::atomic<bool>* draining = nullptr;
    /// HMAC-SHA256 request signing (server.signing); off by default.
    protocol::SigningOptions signing;
};

class TcpFrontEnd : public net::FrameHandler {
public:
    /// loops: how many event loops will call in (each has its own batch).
    TcpFrontEnd(TcpOptions options, dispatch::RequestRunner& runner, dispatch::ControlCommands& control,
                stats::Stats& stats, unsigned loops);

    void onFrame(net::EventLoop& loop, net::Connection& conn, const protocol::Frame& frame) override;
    void onBadFrame(net::EventLoop& loop, net::Connection& conn, protocol::ParseStatus status) override;
    void onRoundEnd(net::EventLoop& loop) override;

private:
    void answerStatus(net::Connection& conn, const protocol::Addressee& to, int code, std::string_view msg,
                      std::string_view api = {});
    void run(net::EventLoop& loop, net::Connection& conn, protocol::Request& req);
    void store(net::EventLoop& loop, net::Connection& conn, protocol::Request& req);
    void control(net::EventLoop& loop, net::Connection& conn, const protocol::Request& req);
    /// Answers a frame the signing check refused and logs it (one line a
    /// second at most, across loops).
    void refuseSignature(net::Connection& conn, const protocol::Frame& frame, protocol::SignatureVerdict v);

    const TcpOptions _opt;
    dispatch::RequestRunner& _runner;
    dispatch::ControlCommands& _control;
    stats::Stats& _stats;
    std::vector<dispatch::RunBatch> _batches; ///< per loop
    std::vector<dispatch::Results> _inlineResults; ///< per loop, reused for inline calls
    protocol::RequestVerifier _verifier;
    std::atomic<std::int64_t> _sigLogMs{0};   ///< when the last refusal was logged
    std::atomic<std::uint64_t> _sigHeld{0};   ///< refusals not logged since
};

} // namespace dora::frontends
