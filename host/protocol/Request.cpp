#include "protocol/Request.h"

#include "protocol/Codes.h"
#include "protocol/Json.h"

#include <dora/sdk/serialize.h>

namespace dora::protocol {

using dora::sdk::Value;

bool isMulti(Mode m) {
    return m == Mode::SyncMulti || m == Mode::AsyncMulti || m == Mode::AsyncResultMulti;
}
bool isSync(Mode m) { return m == Mode::SyncSingle || m == Mode::SyncMulti; }
bool isNoResult(Mode m) { return m == Mode::AsyncSingle || m == Mode::AsyncMulti; }
bool isPushResult(Mode m) { return m == Mode::AsyncResultSingle || m == Mode::AsyncResultMulti; }

namespace {

bool modeOf(std::string_view type, Mode& m) {
    struct Name {
        std::string_view name;
        Mode mode;
    };
    // Both generations' names are accepted from either generation; the
    // answer's shape follows the frame's generation, not the name.
    static constexpr Name kNames[] = {
        {"SSS", Mode::SyncSingle},   {"SSM", Mode::SyncMulti},
        {"SRS", Mode::AsyncSingle},  {"SRM", Mode::AsyncMulti},
        {"W_S", Mode::SyncSingle},   {"W_M", Mode::SyncMulti},
        {"AN_S", Mode::AsyncSingle}, {"AN_M", Mode::AsyncMulti},
        {"AM_S", Mode::AsyncResultSingle}, {"AM_M", Mode::AsyncResultMulti},
        {"SC", Mode::Control},
    };
    for (const auto& n : kNames)
        if (n.name == type) {
            m = n.mode;
            return true;
        }
    return false;
}

bool fail(RequestError& err, int code, std::string msg) {
    err.code = code;
    err.message = std::move(msg);
    return false;
}

} // namespace

bool interpretRequest(const Value& body, Generation gen, const RequestLimits& limits, Request& out,
                      RequestError& err) {
    out = Request{};
    out.generation = gen;
    if (!body.isArray()) return fail(err, code::kPacketTypeWrong, "request body is not an array");
    if (const Value* g = body.find("guid"); g && g->isString()) {
        out.guid = g->asString();
        err.guid = out.guid;
    }
    const Value* type = body.find("type");
    if (!type || !type->isString() || !modeOf(type->asString(), out.mode))
        return fail(err, code::kUnknownType, "unknow task type.未知类型任务");
    out.type = type->asString();

    const Value* api = body.find("api");
    if (!api || !api->isArray() || api->asArray().empty())
        return fail(err, code::kApiMissing, "param api is empty");
    const auto& calls = api->asArray();
    bool multi = isMulti(out.mode);
    if (out.mode == Mode::Control) {
        const Value* cmd = calls.find("cmd");
        const Value* name = cmd ? cmd->find("name") : nullptr;
        if (!name || !name->isString() || name->asString().empty())
            return fail(err, code::kApiMissing, "param api.cmd.name is empty");
        Call c;
        c.key = dora::sdk::Key("cmd");
        c.api = name->asString();
        if (const Value* p = cmd->find("param")) c.param = *p;
        out.calls.push_back(std::move(c));
        return true;
    }
    if (!multi) {
        const Value* one = calls.find("one");
        if (!one) return fail(err, code::kApiMissing, "param api.one is missing");
        if (calls.size() != 1)
            return fail(err, code::kApiMissing, "a single call carries exactly one key, 'one'");
    } else if (calls.size() > limits.maxCalls) {
        return fail(err, code::kTooManyCalls,
                    "too many calls in one request: " + std::to_string(calls.size()) +
                        " (limit " + std::to_string(limits.maxCalls) + ")");
    }
    out.calls.reserve(calls.size());
    for (const auto& e : calls) {
        const Value* name = e.value.find("name");
        if (!name || !name->isString() || name->asString().empty())
            return fail(err, code::kApiMissing,
                        "call '" + e.key.toString() + "' has no api name (key 'name')");
        Call c;
        c.key = e.key;
        c.api = name->asString();
        if (const Value* p = e.value.find("param")) c.param = *p;
        out.calls.push_back(std::move(c));
    }
    return true;
}

bool decodeRequest(const Frame& frame, const RequestLimits& limits, std::size_t maxBodyBytes,
                   Request& out, RequestError& err) {
    std::string_view body = frame.body;
    // Every refusal of a v2 frame, even one whose body cannot be read,
    // carries the header guid: v2 clients match answers by it.
    if (frame.generation == Generation::V2) err.guid = std::string(frame.guid);
    std::string inflated;
    if (frame.generation == Generation::V2 && body.size() >= 2 &&
        static_cast<unsigned char>(body[0]) == 0x1f && static_cast<unsigned char>(body[1]) == 0x8b) {
        if (!gzipDecode(body, maxBodyBytes, inflated))
            return fail(err, code::kPacketTypeWrong, "gzip body is corrupt or too large");
        body = inflated;
    }
    Value v;
    try {
        if (frame.generation == Generation::Json)
            v = fromJson(body);
        else
            v = dora::sdk::unserialize(body);
    } catch (const dora::sdk::DecodeError& e) {
        err.guid = std::string(frame.guid);
        return fail(err, code::kPacketTypeWrong, std::string("body cannot be decoded: ") + e.what());
    }
    bool ok = interpretRequest(v, frame.generation, limits, out, err);
    if (frame.generation == Generation::V2 && !frame.guid.empty()) {
        // The frame header's guid is what v2 clients match answers by.
        if (out.guid.empty()) out.guid = std::string(frame.guid);
        if (err.guid.empty()) err.guid = std::string(frame.guid);
    }
    return ok;
}

} // namespace dora::protocol
