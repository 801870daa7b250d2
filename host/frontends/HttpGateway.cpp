#include "frontends/HttpGateway.h"

#include "protocol/Codes.h"
#include "protocol/Wire.h"
#include "protocol/Response.h"

#include <dora/sdk/serialize.h>

#include <Poco/Logger.h>
#include <Poco/Net/HTMLForm.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/MessageHeader.h>
#include <Poco/Net/NameValueCollection.h>
#include <Poco/Net/NullPartHandler.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/NetSSL.h>
#include <Poco/Net/SecureServerSocket.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/String.h>
#include <Poco/Exception.h>
#include <Poco/URI.h>

#include <future>
#include <sstream>
#include <stdexcept>

namespace dora::frontends {

using dora::sdk::Value;
using Poco::Net::HTTPResponse;
using Poco::Net::HTTPServerRequest;
using Poco::Net::HTTPServerResponse;
using protocol::Addressee;
using protocol::Generation;
namespace code = protocol::code;

struct HttpGateway::Context {
    GatewayOptions opt;
    dispatch::RequestRunner& runner;
    dispatch::ControlCommands& control;
    stats::Stats& stats;
};

namespace {

Poco::Logger& logger() { return Poco::Logger::get("dorahost.http"); }

/// After refusing a body unread, read (and drop) at most this much of it so
/// the client is not reset before it reads the answer (a "lingering close").
constexpr std::streamsize kLingerBytes = 16 * 1024 * 1024;

enum class Endpoint { MultiSync, MultiNoResult, Cmd, Metrics, Unknown };

Endpoint endpointOf(const std::string& uri) {
    // As the PHP server: the path with surrounding slashes trimmed, no query.
    // A plain path (the usual request) is taken as it is, without a URI parse.
    // ("//x" is an authority to a URI parser: not plain.)
    const bool plain = !uri.empty() && uri[0] == '/' && uri.compare(0, 2, "//") != 0 &&
                       uri.find_first_of("%?#") == std::string::npos;
    std::string path = plain ? uri : Poco::URI(uri).getPath();
    std::size_t b = path.find_first_not_of('/');
    std::size_t e = path.find_last_not_of('/');
    path = b == std::string::npos ? std::string() : path.substr(b, e - b + 1);
    if (path == "api/multisync") return Endpoint::MultiSync;
    if (path == "api/multinoresult") return Endpoint::MultiNoResult;
    if (path == "server/cmd") return Endpoint::Cmd;
    if (path == "metrics") return Endpoint::Metrics;
    return Endpoint::Unknown;
}

const char* typeOf(Endpoint e) {
    switch (e) {
    case Endpoint::MultiSync:
        return "W_M";
    case Endpoint::MultiNoResult:
        return "AN_M";
    default:
        return "SC";
    }
}

// Answers are the v2 answer's value (PROTOCOL.md §4: guid, code, msg,
// data; each call's result the same four) written as JSON, straight into
// the text (the same bytes as the Value tree through toJson, without
// building it).
void appendEnvelopeHead(std::string& out, std::string_view guid, int c, std::string_view msg) {
    out += "{\"guid\":";
    wire::appendJsonText(out, guid);
    out += ",\"code\":";
    dora::sdk::appendInteger(out, c);
    out += ",\"msg\":";
    wire::appendJsonText(out, msg);
    out += ",\"data\":";
}

std::string statusJson(const std::string& guid, int c, std::string_view msg, const Value& data = Value()) {
    std::string out;
    appendEnvelopeHead(out, guid, c, msg);
    if (data.isNull())
        out += "[]";
    else
        protocol::toJsonTo(out, data);
    out += '}';
    return out;
}

std::string multiJson(const std::string& guid, const dispatch::Results& results) {
    std::string out;
    out.reserve(64 + results.size() * (guid.size() + 64));
    appendEnvelopeHead(out, guid, 0, "OK");
    // Calls keyed 0..n-1 in order are a JSON list, as toJson writes them.
    bool list = true;
    for (std::size_t i = 0; i < results.size() && list; ++i)
        list = results[i].first.isInt() && results[i].first.intValue() == static_cast<std::int64_t>(i);
    out += list ? '[' : '{';
    for (std::size_t i = 0; i < results.size(); ++i) {
        const auto& [key, r] = results[i];
        if (i > 0) out += ',';
        if (!list) wire::appendJsonKey(out, key);
        appendEnvelopeHead(out, guid, r.code, r.code == 0 ? std::string_view("OK") : std::string_view(r.msg));
        // A result is the plugin's value (null when it gave none); an error
        // carries an empty array, as on the wire.
        if (r.code != 0)
            out += "[]";
        else if (r.data.empty())
            out += "null";
        else
            protocol::toJsonTo(out, dora::sdk::unserialize(r.data));
        out += '}';
    }
    out += list ? ']' : '}';
    out += '}';
    return out;
}

/// A request from the gateway: its thread waits for the outcome.
class HttpRequest final : public dispatch::PendingRequest {
public:
    /// Keeps guid and peer for the call metadata: a call that timed out
    /// may still run after the gateway thread answered and moved on.
    HttpRequest(std::string guid, std::string peer) : _guid(std::move(guid)), _peer(std::move(peer)) {
        meta.guid = _guid;
        meta.peer = _peer;
        meta.mode = DORA_MODE_SYNC_MULTI;
        meta.generation = DORA_GEN_HTTP;
    }
    void finish(dispatch::Results& results) override { _done.set_value(std::move(results)); }
    std::future<dispatch::Results> answer() { return _done.get_future(); }

private:
    std::promise<dispatch::Results> _done;
    const std::string _guid;
    const std::string _peer;
};

void send(HTTPServerResponse& resp, HTTPResponse::HTTPStatus status, const std::string& json) {
    resp.setStatus(status);
    resp.setContentType("application/json; charset=utf-8");
    resp.sendBuffer(json.data(), json.size());
}

/// A refusal of the request as a whole; `guid` is echoed when it was read.
class Refusal : public std::runtime_error {
public:
    Refusal(HTTPResponse::HTTPStatus status, int c, const std::string& msg, std::string guid = {})
        : std::runtime_error(msg), _status(status), _code(c), _guid(std::move(guid)) {}
    HTTPResponse::HTTPStatus status() const { return _status; }
    int code() const { return _code; }
    const std::string& guid() const { return _guid; }

private:
    HTTPResponse::HTTPStatus _status;
    int _code;
    std::string _guid;
};

Refusal badParams(const std::string& why, std::string guid = {}) {
    return Refusal(HTTPResponse::HTTP_OK, code::kHttpParams,
                   "Parameter was not set or wrong: " + why, std::move(guid));
}

class Handler : public Poco::Net::HTTPRequestHandler {
public:
    explicit Handler(std::shared_ptr<HttpGateway::Context> ctx) : _ctx(std::move(ctx)) {}

    void handleRequest(HTTPServerRequest& req, HTTPServerResponse& resp) override {
        Endpoint ep = Endpoint::Unknown;
        try {
            ep = endpointOf(req.getURI());
        } catch (const Poco::SyntaxException& e) {
            // A URI Poco cannot parse ("/%zz", "/a%"): the JSON refusal,
            // not the bare 500 Poco's connection would send.
            count(ep, true);
            send(resp, HTTPResponse::HTTP_BAD_REQUEST,
                 statusJson("", code::kHttpParams, "Parameter was not set or wrong: malformed request URI (" +
                                                       e.displayText() + ")"));
            return;
        }
        if (ep == Endpoint::Metrics && !_ctx->opt.metrics) ep = Endpoint::Unknown;
        if (ep == Endpoint::Metrics) {
            metrics(req, resp);
            return;
        }
        try {
            if (ep == Endpoint::Unknown)
                throw Refusal(HTTPResponse::HTTP_NOT_FOUND, code::kUnknownType,
                              "unknow task type.未知类型任务: no such path '" +
                                  Poco::URI(req.getURI()).getPath() +
                                  "' (use POST /api/multisync, /api/multinoresult or /server/cmd, "
                                  "GET /metrics)");
            if (req.getMethod() != Poco::Net::HTTPRequest::HTTP_POST) {
                resp.set("Allow", "POST");
                throw Refusal(HTTPResponse::HTTP_METHOD_NOT_ALLOWED, code::kHttpParams,
                              "method " + req.getMethod() + " not allowed: use POST");
            }
            std::string body = readBody(req, resp);
            serve(ep, req, resp, paramsOf(req, body));
        } catch (const Refusal& r) {
            count(ep, true);
            _ctx->stats.events.refused(r.guid(), {}, r.code(), req.clientAddress().toString(), r.what());
            if (!resp.sent()) send(resp, r.status(), statusJson(r.guid(), r.code(), r.what()));
        } catch (const std::exception& e) {
            count(ep, true);
            logger().error("%s %s: %s", req.getMethod(), req.getURI(), std::string(e.what()));
            if (!resp.sent())
                send(resp, HTTPResponse::HTTP_INTERNAL_SERVER_ERROR,
                     statusJson("", code::kHandlerFailed,
                                std::string("internal error: ") + e.what()));
        }
    }

private:
    void count(Endpoint ep, bool error) {
        static constexpr std::string_view kModes[] = {"http:W_M", "http:AN_M", "http:SC", "http:metrics",
                                                      "http:other"};
        _ctx->stats.mode(kModes[static_cast<int>(ep)]).count(error);
        if (error) _ctx->stats.refused.count(true);
    }

    /// The whole body, at most maxBodyBytes; refuses larger ones with 413
    /// as soon as the declared length (or the bytes read) pass the limit.
    std::string readBody(HTTPServerRequest& req, HTTPServerResponse& resp) {
        const std::size_t max = _ctx->opt.maxBodyBytes;
        auto tooLarge = [&] {
            resp.setKeepAlive(false);
            send(resp, HTTPResponse::HTTP_REQUEST_ENTITY_TOO_LARGE,
                 statusJson("", code::kPacketLengthInvalid,
                            "packet length invalid 包长度非法: body larger than " +
                                std::to_string(max) + " bytes"));
            req.stream().ignore(kLingerBytes);
            throw Refusal(HTTPResponse::HTTP_REQUEST_ENTITY_TOO_LARGE, code::kPacketLengthInvalid,
                          "body larger than " + std::to_string(max) + " bytes (answered 413)");
        };
        if (req.hasContentLength() && req.getContentLength64() > static_cast<Poco::Int64>(max))
            tooLarge();
        std::string body;
        if (req.hasContentLength()) body.reserve(static_cast<std::size_t>(req.getContentLength64()));
        char buf[16384];
        std::istream& in = req.stream();
        while (in) {
            in.read(buf, sizeof buf);
            body.append(buf, static_cast<std::size_t>(in.gcount()));
            if (body.size() > max) tooLarge();
        }
        return body;
    }

    /// The `params` JSON: the form field, or the whole body when it is sent
    /// as application/json.
    Value paramsOf(HTTPServerRequest& req, const std::string& body) {
        std::string mediaType;
        Poco::Net::NameValueCollection ctParams;
        Poco::Net::MessageHeader::splitParameters(req.getContentType(), mediaType, ctParams);
        Poco::toLowerInPlace(mediaType);
        std::string formText;
        std::string_view text = body;
        if (mediaType != "application/json") {
            Poco::Net::HTMLForm form;
            form.setValueLengthLimit(static_cast<int>(_ctx->opt.maxBodyBytes));
            std::istringstream in(body);
            Poco::Net::NullPartHandler files;
            try {
                form.load(req, in, files);
            } catch (const Poco::Exception& e) {
                throw badParams("the form cannot be read: " + e.displayText());
            }
            if (!form.has("params"))
                throw badParams("form field 'params' is missing (or send the JSON body as "
                                "Content-Type: application/json)");
            formText = form.get("params");
            text = formText;
        }
        try {
            return protocol::fromJson(text);
        } catch (const dora::sdk::DecodeError& e) {
            throw badParams(std::string("'params' is not valid JSON: ") + e.what());
        }
    }

    /// The credential of an `Authorization: Bearer <token>` header, or "".
    static std::string bearer(const HTTPServerRequest& req) {
        // A copy: without the header, Poco's get(name, default) returns a
        // reference to its default argument, a temporary gone at the ';'
        // (ASan: stack-use-after-scope, found by the asan pass in test_http).
        const std::string h = req.get("Authorization", std::string());
        if (h.size() < 7 || Poco::icompare(h.substr(0, 7), "bearer ") != 0) return {};
        std::size_t b = h.find_first_not_of(' ', 7);
        return b == std::string::npos ? std::string() : h.substr(b);
    }

    void metrics(HTTPServerRequest& req, HTTPServerResponse& resp) {
        const bool ok = req.getMethod() == Poco::Net::HTTPRequest::HTTP_GET;
        if (!ok) {
            count(Endpoint::Metrics, true);
            resp.set("Allow", "GET");
            send(resp, HTTPResponse::HTTP_METHOD_NOT_ALLOWED,
                 statusJson("", code::kHttpParams, "method " + req.getMethod() + " not allowed: use GET"));
            return;
        }
        if (!_ctx->control.authorized(bearer(req))) {
            count(Endpoint::Metrics, true);
            auto a = _ctx->control.refuse("GET /metrics", req.clientAddress().toString());
            resp.set("WWW-Authenticate", "Bearer realm=\"dorahost\"");
            send(resp, HTTPResponse::HTTP_UNAUTHORIZED, statusJson("", a.code, a.msg));
            return;
        }
        count(Endpoint::Metrics, false);
        std::string text = _ctx->opt.metrics();
        resp.setStatus(HTTPResponse::HTTP_OK);
        resp.setContentType("text/plain; version=0.0.4; charset=utf-8");
        resp.sendBuffer(text.data(), text.size());
    }

    void serve(Endpoint ep, HTTPServerRequest& http, HTTPServerResponse& resp, Value params) {
        if (!params.isArray()) throw badParams("'params' must be a JSON object");
        const Value* guid = params.find("guid");
        if (!guid || !guid->isString() || guid->asString().empty())
            throw badParams("'guid' is missing or not a string");
        Value* api = params.asArray().find("api");
        if (!api || !api->isArray() || api->asArray().empty())
            throw badParams("'api' is missing or empty", guid->asString());

        Value body = Value::array();
        body.set("guid", *guid);
        body.set("type", std::string(typeOf(ep)));
        body.set("api", std::move(*api));
        protocol::Request request;
        protocol::RequestError err;
        if (!protocol::interpretRequest(body, Generation::V2, _ctx->opt.limits, request, err)) {
            if (err.code != code::kTooManyCalls) throw badParams(err.message, guid->asString());
            count(ep, true);
            _ctx->stats.events.refused(guid->asString(), {}, err.code, http.clientAddress().toString(), err.message);
            send(resp, HTTPResponse::HTTP_OK, statusJson(guid->asString(), err.code, err.message));
            return;
        }
        const std::string g = request.guid;
        if (ep != Endpoint::Cmd && _ctx->opt.draining &&
            _ctx->opt.draining->load(std::memory_order_relaxed)) {
            count(ep, true);
            _ctx->stats.events.refused(g, {}, code::kShuttingDown, http.clientAddress().toString(), "shutting down");
            send(resp, HTTPResponse::HTTP_OK,
                 statusJson(g, code::kShuttingDown,
                            "server shutting down: not accepted, nothing was run; send it to another server"));
            return;
        }
        switch (ep) {
        case Endpoint::MultiSync: {
            auto table = _ctx->runner.routes();
            dispatch::Results inlined;
            if (table && _ctx->runner.runInline(request, *table, inlined)) {
                bool failed = false;
                for (const auto& r : inlined)
                    failed = failed || r.second.code != 0;
                count(ep, failed);
                send(resp, HTTPResponse::HTTP_OK, multiJson(g, inlined));
                return;
            }
            auto pending = std::make_shared<HttpRequest>(std::move(request.guid), http.clientAddress().toString());
            auto answer = pending->answer();
            dispatch::RunBatch batch;
            _ctx->runner.run(pending, request, table, batch);
            _ctx->runner.submitAndRunHere(batch);
            auto results = answer.get();
            bool failed = false;
            for (const auto& r : results)
                failed = failed || r.second.code != 0;
            count(ep, failed);
            send(resp, HTTPResponse::HTTP_OK, multiJson(g, results));
            return;
        }
        case Endpoint::MultiNoResult: {
            std::promise<std::pair<int, std::string>> done;
            auto answer = done.get_future();
            dispatch::RunBatch batch;
            protocol::CallOutcome refusal;
            auto table = _ctx->runner.routes();
            if (!table) {
                refusal = protocol::CallOutcome{code::kNoSuchRoute, "no routes are loaded", {}};
            } else if (_ctx->runner.store(request, table.get(),
                                          [&done](int c, const std::string& msg) { done.set_value({c, msg}); },
                                          batch, refusal)) {
                _ctx->runner.submit(batch);
                auto [c, msg] = answer.get();
                count(ep, c != code::kAccepted);
                if (c != code::kAccepted) _ctx->stats.events.refused(g, {}, c, http.clientAddress().toString(), msg);
                send(resp, HTTPResponse::HTTP_OK, statusJson(g, c, msg));
                return;
            }
            count(ep, true);
            _ctx->stats.events.refused(g, {}, refusal.code, http.clientAddress().toString(), refusal.msg);
            send(resp, HTTPResponse::HTTP_OK, statusJson(g, refusal.code, refusal.msg));
            return;
        }
        default:
            command(ep, resp, g,
                    dispatch::ControlRequest{request.calls.front().api, std::move(request.calls.front().params),
                                             bearer(http), http.clientAddress().toString()});
        }
    }

    void command(Endpoint ep, HTTPServerResponse& resp, const std::string& guid, dispatch::ControlRequest cmd) {
        dispatch::ControlAnswer a = _ctx->control.execute(std::move(cmd));
        count(ep, a.code != code::kOk);
        send(resp, HTTPResponse::HTTP_OK, statusJson(guid, a.code, a.msg, a.data));
    }

    std::shared_ptr<HttpGateway::Context> _ctx;
};

class Factory : public Poco::Net::HTTPRequestHandlerFactory {
public:
    explicit Factory(std::shared_ptr<HttpGateway::Context> ctx) : _ctx(std::move(ctx)) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(const HTTPServerRequest&) override {
        return new Handler(_ctx);
    }

private:
    std::shared_ptr<HttpGateway::Context> _ctx;
};

} // namespace

HttpGateway::HttpGateway(GatewayOptions options, dispatch::RequestRunner& runner, dispatch::ControlCommands& control,
                         stats::Stats& stats)
    : _opt(std::move(options)), _ctx(std::make_shared<Context>(Context{_opt, runner, control, stats})) {}

HttpGateway::~HttpGateway() { stop(); }

void HttpGateway::start() {
    Poco::Net::ServerSocket socket;
    if (!_opt.tls.cert.empty()) {
        Poco::Net::initializeSSL();
        Poco::Net::Context::Params p;
        p.verificationMode = Poco::Net::Context::VERIFY_NONE; // set below, as the loops do
        p.cipherList = "DEFAULT";
        Poco::Net::Context::Ptr context;
        try {
            context = new Poco::Net::Context(Poco::Net::Context::TLS_SERVER_USE, p);
        } catch (const Poco::Exception& e) {
            throw std::runtime_error("TLS for the HTTP gateway: " + e.displayText());
        }
        // The same certificate, key, client CA and minimum version as the
        // Dora listener, applied to Poco's OpenSSL context directly (and
        // OpenSSL's own verification, not Poco's SSLManager handlers).
        net::configureServerContext(context->sslContext(), _opt.tls);
        socket = Poco::Net::SecureServerSocket(context);
    }
    try {
        socket.bind(Poco::Net::SocketAddress(_opt.endpoint.host, _opt.endpoint.port), true);
        socket.listen(256);
    } catch (const Poco::Exception& e) {
        throw std::runtime_error("cannot listen on " + _opt.endpoint.toString() +
                                 " (server.http): " + e.displayText());
    }
    _port = socket.address().port();
    int threads = _opt.threads < 1 ? 1 : _opt.threads;
    _threads = std::make_unique<Poco::ThreadPool>("dora-http", 1, threads, 60);
    auto* params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(threads);
    params->setMaxQueued(_opt.maxQueued);
    params->setKeepAlive(true);
    params->setKeepAliveTimeout(Poco::Timespan(_opt.keepAliveTimeoutSec, 0));
    params->setTimeout(Poco::Timespan(_opt.receiveTimeoutSec, 0));
    params->setServerName("dorahost");
    _server = std::make_unique<Poco::Net::HTTPServer>(new Factory(_ctx), *_threads, socket, params);
    _server->start();
}

void HttpGateway::stop() {
    if (!_server) return;
    // Current requests finish (their calls are in the task pool, which
    // still runs); idle keep-alive connections are shut down.
    _server->stopAll(false);
    _threads->joinAll();
    _server.reset();
    _threads.reset();
}

} // namespace dora::frontends
