#include "frontends/TcpFrontEnd.h"

#include "protocol/Codes.h"

#include <Poco/Logger.h>

#include <algorithm>
#include <cstring>

namespace dora::frontends {

using dora::sdk::Value;
using protocol::Addressee;
using protocol::CallOutcome;
using protocol::Generation;
using protocol::Mode;
namespace code = protocol::code;

namespace {

constexpr std::string_view kShuttingDownText =
    "server shutting down: not accepted, nothing was run; send it to another server";

/// A request from a TCP connection: its answer goes back to the loop.
class TcpRequest final : public dispatch::PendingRequest {
public:
    TcpRequest(net::EventLoop& loop, std::uint64_t connId, Addressee to, const protocol::EncodeOptions& encode,
               bool multi, bool push, protocol::Mode mode, std::string_view peer)
        : _loop(loop), _connId(connId), _to(std::move(to)), _encode(encode), _multi(multi), _push(push) {
        // Call metadata points into this request; the peer is copied into
        // a fixed buffer (no allocation), since the connection may close
        // while a handler still runs.
        const std::size_t n = std::min(peer.size(), sizeof _peer);
        std::memcpy(_peer, peer.data(), n);
        meta.peer = std::string_view(_peer, n);
        meta.guid = _to.guid;
        meta.mode = plugins::sdkMode(mode);
        meta.generation = plugins::sdkGeneration(_to.generation);
    }

    void finish(dispatch::Results& results) override {
        std::string out;
        if (_multi)
            protocol::appendMultiAnswer(out, _to, results, _encode, _push);
        else
            protocol::appendSingleAnswer(out, _to, results.front().second, _encode, _push);
        _loop.post(_connId, std::move(out));
    }

private:
    net::EventLoop& _loop;
    const std::uint64_t _connId;
    const Addressee _to;
    const protocol::EncodeOptions& _encode; ///< the front end's, which outlives every request
    const bool _multi;
    const bool _push;
    char _peer[64];
};

} // namespace

TcpFrontEnd::TcpFrontEnd(TcpOptions options, dispatch::RequestRunner& runner, dispatch::ControlCommands& control,
                         stats::Stats& stats, unsigned loops)
    : _opt(std::move(options)), _runner(runner), _control(control), _stats(stats), _batches(loops), _inlineResults(loops),
      _verifier(_opt.signing, loops) {}

void TcpFrontEnd::answerStatus(net::Connection& conn, const Addressee& to, int c, std::string_view msg,
                               std::string_view api) {
    if (c != code::kAccepted) _stats.events.refused(to.guid, api, c, conn.peer, msg);
    protocol::appendStatusAnswer(conn.out, to, c, msg, Value(), _opt.encode);
}

void TcpFrontEnd::onBadFrame(net::EventLoop&, net::Connection& conn, protocol::ParseStatus status) {
    _stats.frames.count(true);
    _stats.refused.count(true);
    std::string why = status == protocol::ParseStatus::TooLarge
                          ? "packet length invalid 包长度非法: frame larger than " +
                                std::to_string(_opt.encode.frame.maxFrameBytes) + " bytes"
                          : std::string("packet length invalid 包长度非法: frame too short");
    answerStatus(conn, Addressee{Generation::V1, {}}, code::kPacketLengthInvalid, why);
}

void TcpFrontEnd::refuseSignature(net::Connection& conn, const protocol::Frame& frame, protocol::SignatureVerdict v) {
    _stats.frames.count(true);
    _stats.refused.count(true);
    const std::string_view why = protocol::verdictText(v);
    const std::int64_t now = static_cast<std::int64_t>(wire::unixMillis());
    std::int64_t last = _sigLogMs.load(std::memory_order_relaxed);
    if (now - last >= 1000 && _sigLogMs.compare_exchange_strong(last, now)) {
        const std::uint64_t held = _sigHeld.exchange(0);
        Poco::Logger::get("dorahost.net")
            .warning("refused a frame from %s (guid %s): %s (%z more refused since the last line)", conn.peer,
                     frame.guid.empty() ? std::string("not read") : std::string(frame.guid), std::string(why),
                     static_cast<std::size_t>(held));
    } else {
        _sigHeld.fetch_add(1, std::memory_order_relaxed);
    }
    // The frame is not decoded: its generation and (v2) guid header are
    // all the answer needs, whatever its body would parse as.
    answerStatus(conn, Addressee{frame.generation, std::string(frame.guid)},
                 frame.generation == Generation::V2 ? code::kV2SignatureFailed : code::kV1SignatureFailed, why);
}

void TcpFrontEnd::onFrame(net::EventLoop& loop, net::Connection& conn, const protocol::Frame& frame) {
    if (_verifier.active() || frame.signing != wire::Signing::None) {
        auto v = _verifier.check(frame, loop.index(), static_cast<std::int64_t>(wire::unixMillis()));
        if (v != protocol::SignatureVerdict::Ok) {
            refuseSignature(conn, frame, v);
            return;
        }
    }
    if (!frame.signatureOk) {
        _stats.frames.count(true);
        _stats.refused.count(true);
        answerStatus(conn, Addressee{frame.generation, std::string(frame.guid)},
                     frame.generation == Generation::V2 ? code::kV2SignatureFailed : code::kV1SignatureFailed,
                     "Signed check error!");
        return;
    }
    protocol::Request req;
    protocol::RequestError err;
    if (!protocol::decodeRequest(frame, _opt.limits, _opt.maxBodyBytes, req, err)) {
        _stats.frames.count(true);
        _stats.refused.count(true);
        answerStatus(conn, Addressee{frame.generation, err.guid}, err.code, err.message);
        return;
    }
    _stats.frames.count(false);
    if (req.mode == Mode::Control) {
        control(loop, conn, req);
        return;
    }
    if (_opt.draining && _opt.draining->load(std::memory_order_relaxed)) {
        _stats.refused.count(true);
        answerStatus(conn, Addressee{req.generation, req.guid}, code::kShuttingDown, kShuttingDownText);
        return;
    }
    _stats.mode(req.type, req.generation).count(false);
    if (conn.inflight >= _opt.maxInflightPerConnection) {
        answerStatus(conn, Addressee{req.generation, req.guid}, code::kTooManyInflight,
                     "too many requests in flight on this connection (limit " +
                         std::to_string(_opt.maxInflightPerConnection) + ")");
        return;
    }
    if (protocol::isNoResult(req.mode))
        store(loop, conn, req);
    else
        run(loop, conn, req);
}

void TcpFrontEnd::run(net::EventLoop& loop, net::Connection& conn, protocol::Request& req) {
    Addressee to{req.generation, std::move(req.guid)}; // req's guid is not needed again
    auto table = _runner.routes();
    if (!table) {
        answerStatus(conn, to, code::kNoSuchRoute, "no routes are loaded");
        return;
    }
    // Async-result modes: accepted now, the result is pushed when done.
    const bool push = protocol::isPushResult(req.mode);
    const bool multi = protocol::isMulti(req.mode);
    if (push) answerStatus(conn, to, code::kAccepted, "transfer success.已经成功投递");
    if (!multi) {
        // A single call whose api has no route is refused as a whole.
        CallOutcome error;
        if (!_runner.resolve(*table, req.calls.front().api, false, error)) {
            _stats.unrouted.count(true);
            answerStatus(conn, to, error.code, error.msg, req.calls.front().api);
            return;
        }
    }
    // An inline route answers here and now: no task, no hand-off, and
    // the answer joins this round's write with the others.
    dispatch::Results& results = _inlineResults[loop.index()];
    if (_runner.runInline(req, *table, results)) {
        if (multi)
            protocol::appendMultiAnswer(conn.out, to, results, _opt.encode, push);
        else
            protocol::appendSingleAnswer(conn.out, to, results.front().second, _opt.encode, push);
        return;
    }
    // Counted in flight until the answer is posted (post marks it done,
    // even when no call could run).
    ++conn.inflight;
    auto pending =
        std::make_shared<TcpRequest>(loop, conn.id, std::move(to), _opt.encode, multi, push, req.mode, conn.peer);
    _runner.run(pending, req, table, _batches[loop.index()]);
}

void TcpFrontEnd::store(net::EventLoop& loop, net::Connection& conn, protocol::Request& req) {
    Addressee to{req.generation, req.guid};
    auto table = _runner.routes();
    net::EventLoop* lp = &loop;
    const std::uint64_t connId = conn.id;
    const protocol::EncodeOptions* encode = &_opt.encode;
    stats::Stats* st = &_stats;
    auto done = [lp, connId, to, encode, st, peer = stats::PeerText(conn.peer)](int c, const std::string& msg) {
        if (c != code::kAccepted) st->refused.count(true);
        if (c != code::kAccepted) st->events.refused(to.guid, {}, c, peer.view(), msg);
        std::string out;
        protocol::appendStatusAnswer(out, to, c, msg, Value(), *encode);
        lp->post(connId, std::move(out));
    };
    CallOutcome refusal;
    if (!table) {
        answerStatus(conn, to, code::kNoSuchRoute, "no routes are loaded");
    } else if (_runner.store(req, table.get(), std::move(done), _batches[loop.index()], refusal)) {
        ++conn.inflight; // until the queue reports the write
    } else {
        answerStatus(conn, to, refusal.code, refusal.msg);
    }
}

void TcpFrontEnd::control(net::EventLoop& loop, net::Connection& conn, const protocol::Request& req) {
    Addressee to{req.generation, req.guid};
    ++conn.inflight;
    net::EventLoop* lp = &loop;
    const std::uint64_t connId = conn.id;
    const protocol::EncodeOptions* encode = &_opt.encode;
    _control.submit({req.calls.front().api, req.calls.front().params, {}, conn.peer},
                    [lp, connId, to, encode](dispatch::ControlAnswer a) {
        std::string out;
        protocol::appendStatusAnswer(out, to, a.code, a.msg, a.data, *encode);
        lp->post(connId, std::move(out));
    });
}

void TcpFrontEnd::onRoundEnd(net::EventLoop& loop) {
    auto& batch = _batches[loop.index()];
    if (batch.empty()) return;
    _runner.submit(batch);
    _stats.loopLag.observe(stats::nowNs() - loop.roundStartNs()); // frames read -> handed over
}

} // namespace dora::frontends
