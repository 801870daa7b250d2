#include <dora/client/Codec.h>

#include <dora/wire/Frame.h>
#include <dora/wire/Json.h>

#include <dora/sdk/serialize.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <unistd.h>

namespace dora::client {

using dora::sdk::Key;
using dora::sdk::Value;
namespace proto = dora::wire;

namespace {

proto::Generation toProto(Generation g) {
    switch (g) {
    case Generation::V1:
        return proto::Generation::V1;
    case Generation::V2:
        return proto::Generation::V2;
    case Generation::Json:
        return proto::Generation::Json;
    }
    return proto::Generation::V1;
}

Generation fromProto(proto::Generation g) {
    switch (g) {
    case proto::Generation::V1:
        return Generation::V1;
    case proto::Generation::V2:
        return Generation::V2;
    case proto::Generation::Json:
        return Generation::Json;
    }
    return Generation::V1;
}

proto::FrameOptions frameOptions(const WireOptions& opt) {
    proto::FrameOptions f;
    f.maxFrameBytes = opt.maxFrameBytes;
    f.signature = opt.signature;
    f.salt = opt.salt;
    return f;
}

// Codes arrive as PHP ints; tolerate numeric strings as PHP would.
bool intOf(const Value* v, int& out) {
    if (!v) return false;
    if (v->isInt()) {
        out = static_cast<int>(v->asInt());
        return true;
    }
    if (v->isString()) {
        try {
            std::size_t used = 0;
            out = std::stoi(v->asString(), &used);
            return used == v->asString().size();
        } catch (const std::exception&) {
            return false;
        }
    }
    return false;
}

std::string stringOf(const Value* v) {
    if (!v) return {};
    if (v->isString()) return v->asString();
    if (v->isInt()) return std::to_string(v->asInt());
    return {};
}

// v1/JSON carry a handler error as [code, msg, data] in the result slot.
bool isV1Error(const Value& v, int& codeOut, std::string& msgOut) {
    if (!v.isArray() || v.asArray().size() != 3) return false;
    int c = 0;
    if (!intOf(v.find("code"), c) || c == 0) return false;
    const Value* m = v.find("msg");
    if (!m || !v.find("data")) return false;
    codeOut = c;
    msgOut = stringOf(m);
    return true;
}

CallResult v1Call(const Key& key, const Value& slot) {
    CallResult c;
    c.key = key;
    if (isV1Error(slot, c.code, c.msg)) return c;
    c.code = 0;
    c.msg = "OK";
    c.data = slot;
    return c;
}

CallResult v2Call(const Key& key, const Value& slot) {
    CallResult c;
    c.key = key;
    int code = 0;
    if (!slot.isArray() || !intOf(slot.find("code"), code)) {
        // Not the [guid, code, msg, data] shape: report it rather than guess.
        c.code = code::kBadAnswer;
        c.msg = "answer for call '" + key.toString() + "' lacks the [guid, code, msg, data] shape";
        c.data = slot;
        return c;
    }
    c.code = code;
    c.msg = stringOf(slot.find("msg"));
    if (const Value* d = slot.find("data")) c.data = *d;
    if (c.code != 0) c.data = Value();
    return c;
}

} // namespace

bool parseGeneration(std::string_view s, Generation& out) {
    if (s == "v1")
        out = Generation::V1;
    else if (s == "v2")
        out = Generation::V2;
    else if (s == "json")
        out = Generation::Json;
    else
        return false;
    return true;
}

const char* generationName(Generation g) {
    switch (g) {
    case Generation::V1:
        return "v1";
    case Generation::V2:
        return "v2";
    case Generation::Json:
        return "json";
    }
    return "?";
}

const char* modeName(Mode m) {
    switch (m) {
    case Mode::Sync:
        return "sync";
    case Mode::Async:
        return "async";
    case Mode::AsyncResult:
        return "async-result";
    }
    return "?";
}

std::string_view typeName(Generation g, Mode m, bool multi) {
    if (g == Generation::V2) {
        switch (m) {
        case Mode::Sync:
            return multi ? "W_M" : "W_S";
        case Mode::Async:
            return multi ? "AN_M" : "AN_S";
        case Mode::AsyncResult:
            return multi ? "AM_M" : "AM_S";
        }
    }
    switch (m) {
    case Mode::Sync:
        return multi ? "SSM" : "SSS";
    case Mode::Async:
        return multi ? "SRM" : "SRS";
    case Mode::AsyncResult:
        return multi ? "AM_M" : "AM_S";
    }
    return "SSS";
}

std::string newGuid() {
    // One generator per thread, seeded from the OS and the clock, so
    // processes started in the same instant still differ.
    thread_local std::mt19937_64 rng([] {
        std::random_device rd;
        std::seed_seq seq{
            rd(),
            rd(),
            rd(),
            rd(),
            static_cast<unsigned>(std::chrono::steady_clock::now().time_since_epoch().count()),
            static_cast<unsigned>(::getpid())};
        return std::mt19937_64(seq);
    }());
    static const char* hex = "0123456789abcdef";
    std::string g(32, '0');
    for (int half = 0; half < 2; ++half) {
        std::uint64_t v = rng();
        for (int i = 0; i < 16; ++i) {
            g[half * 16 + i] = hex[v & 0xf];
            v >>= 4;
        }
    }
    return g;
}

Value singleApi(std::string_view api, const Value& param) {
    Value call = Value::array();
    call.set("name", Value(api));
    call.set("param", param);
    Value out = Value::array();
    out.set("one", std::move(call));
    return out;
}

void appendRequest(std::string& out, Generation g, std::string_view guid, std::string_view type,
                   const Value& api, const WireOptions& opt) {
    // Key order as the PHP client builds the array: guid, type, api.
    Value body = Value::array();
    body.set("guid", Value(guid));
    body.set("type", Value(type));
    body.set("api", api);
    proto::FrameOptions fo = frameOptions(opt);
    if (g == Generation::Json) {
        proto::appendFrame(out, proto::Generation::Json, {}, proto::toJson(body), fo);
        return;
    }
    std::string bytes = dora::sdk::serialize(body);
    if (g == Generation::V2 && opt.gzip) bytes = proto::gzipEncode(bytes, 4);
    proto::appendFrame(out, toProto(g), guid, bytes, fo);
}

TakeStatus takeAnswer(std::string_view in, const WireOptions& opt, Result& out,
                      Generation& answeredIn, std::size_t& consumed, std::string& err) {
    proto::Frame frame;
    consumed = 0;
    switch (proto::parseFrame(in, frameOptions(opt), frame, consumed)) {
    case proto::ParseStatus::NeedMore:
        return TakeStatus::NeedMore;
    case proto::ParseStatus::TooLarge:
        err = "answer frame larger than " + std::to_string(opt.maxFrameBytes) + " bytes";
        return TakeStatus::Bad;
    case proto::ParseStatus::BadLength:
        err = "answer frame length invalid";
        return TakeStatus::Bad;
    case proto::ParseStatus::Ok:
        break;
    }
    if (!frame.signatureOk) {
        err = "answer signature check failed (signature/salt differ from the server's?)";
        return TakeStatus::Bad;
    }
    answeredIn = fromProto(frame.generation);
    std::string_view body = frame.body;
    std::string inflated;
    if (body.size() >= 2 && static_cast<unsigned char>(body[0]) == 0x1f &&
        static_cast<unsigned char>(body[1]) == 0x8b) {
        if (!proto::gzipDecode(body, 64 * opt.maxFrameBytes, inflated)) {
            err = "answer gzip body is corrupt";
            return TakeStatus::Bad;
        }
        body = inflated;
    }
    Value v;
    try {
        v = frame.generation == proto::Generation::Json ? proto::fromJson(body)
                                                        : dora::sdk::unserialize(body);
    } catch (const std::exception& e) {
        err = std::string("answer body cannot be decoded: ") + e.what();
        return TakeStatus::Bad;
    }
    if (!v.isArray() || !intOf(v.find("code"), out.code)) {
        err = "answer is not a [code, msg, data] array";
        return TakeStatus::Bad;
    }
    out.msg = stringOf(v.find("msg"));
    out.guid = stringOf(v.find("guid"));
    if (out.guid.empty()) out.guid = std::string(frame.guid);
    int isResult = 0;
    out.isResult = intOf(v.find("isresult"), isResult) && isResult == 1;
    if (Value* d = v.asArray().find("data")) out.data = std::move(*d);
    out.calls.clear();
    return TakeStatus::Ok;
}

void splitCalls(Result& r, Generation answeredIn, bool multi) {
    r.calls.clear();
    if (r.code != code::kOk) return;
    if (!multi) {
        r.calls.push_back(answeredIn == Generation::V2 ? v2Call("one", r.data)
                                                       : v1Call("one", r.data));
        return;
    }
    if (!r.data.isArray()) return;
    for (const auto& e : r.data.asArray())
        r.calls.push_back(answeredIn == Generation::V2 ? v2Call(e.key, e.value)
                                                       : v1Call(e.key, e.value));
}

int Result::errorCode() const {
    if (code != code::kOk && code != code::kAccepted) return code;
    for (const auto& c : calls)
        if (c.code != 0) return c.code;
    return 0;
}

std::string Result::errorText() const {
    if (code != code::kOk && code != code::kAccepted) return std::to_string(code) + " " + msg;
    for (const auto& c : calls) {
        if (c.code == 0) continue;
        std::string t = std::to_string(c.code) + " " + c.msg;
        if (calls.size() > 1 || c.key != Key("one")) t = "call '" + c.key.toString() + "': " + t;
        return t;
    }
    return {};
}

std::string toJson(const Value& v) { return proto::toJson(v); }

Value fromJson(std::string_view text) {
    try {
        return proto::fromJson(text);
    } catch (const std::exception& e) {
        throw std::runtime_error(std::string("invalid JSON: ") + e.what());
    }
}

} // namespace dora::client
