#include <dora/client/Codec.h>

#include <dora/wire/Frame.h>
#include <dora/wire/Json.h>
#include <dora/wire/Signing.h>

#include <dora/sdk/serialize.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
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

/// Signs the request frame just appended at out[start..] when a key is
/// set. One HMAC state per thread and key (the bench runs many threads);
/// the nonce is a random per-thread prefix and a counter: unique, cheap.
void signRequest(std::string& out, std::size_t start, const WireOptions& opt, const proto::FrameOptions& fo) {
    if (opt.signingKey.empty()) return;
    struct State {
        std::string key;
        std::unique_ptr<proto::HmacSha256> hmac;
        unsigned char nonce[16] = {};
        std::uint64_t counter = 0;
    };
    thread_local State st;
    if (!st.hmac || st.key != opt.signingKey) {
        st.hmac = std::make_unique<proto::HmacSha256>(opt.signingKey);
        st.key = opt.signingKey;
        std::random_device rd;
        for (int i = 0; i < 8; i += 4) {
            std::uint32_t r = rd();
            std::memcpy(st.nonce + i, &r, 4);
        }
    }
    ++st.counter;
    for (int i = 0; i < 8; ++i) st.nonce[8 + i] = static_cast<unsigned char>(st.counter >> (56 - 8 * i));
    proto::signFrame(out, start, fo, *st.hmac, proto::unixMillis(),
                     std::string_view(reinterpret_cast<const char*>(st.nonce), sizeof st.nonce));
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
    const std::size_t start = out.size();
    if (g == Generation::Json) {
        proto::appendFrame(out, proto::Generation::Json, {}, proto::toJson(body), fo);
        signRequest(out, start, opt, fo);
        return;
    }
    std::string bytes = dora::sdk::serialize(body);
    if (g == Generation::V2 && opt.gzip) bytes = proto::gzipEncode(bytes, 4);
    proto::appendFrame(out, toProto(g), guid, bytes, fo);
    signRequest(out, start, opt, fo);
}

std::string readSigningKey(const std::string& path) { return proto::readSigningKeyFile(path); }

std::size_t beginSerializedRequest(std::string& out, Generation g, std::string_view guid,
                                   std::string_view type, const WireOptions& opt) {
    if (g == Generation::Json || (g == Generation::V2 && opt.gzip)) return std::string::npos;
    // serialize(["guid" => guid, "type" => type, "api" => api]), by hand,
    // straight into the frame: no body string to build and copy.
    const std::size_t start = proto::beginFrame(out, toProto(g), guid, frameOptions(opt));
    char num[24];
    out += "a:3:{s:4:\"guid\";s:";
    out.append(
        num, static_cast<std::size_t>(std::to_chars(num, num + sizeof num, guid.size()).ptr - num));
    out += ":\"";
    out += guid;
    out += "\";s:4:\"type\";s:";
    out.append(
        num, static_cast<std::size_t>(std::to_chars(num, num + sizeof num, type.size()).ptr - num));
    out += ":\"";
    out += type;
    out += "\";s:3:\"api\";";
    return start;
}

void finishSerializedRequest(std::string& out, std::size_t start, Generation g,
                             const WireOptions& opt) {
    out += '}';
    const proto::FrameOptions fo = frameOptions(opt);
    proto::finishFrame(out, start, toProto(g), fo);
    signRequest(out, start, opt, fo);
}

bool appendSerializedRequest(std::string& out, Generation g, std::string_view guid,
                             std::string_view type, std::string_view apiBytes,
                             const WireOptions& opt) {
    const std::size_t start = beginSerializedRequest(out, g, guid, type, opt);
    if (start == std::string::npos) return false;
    out += apiBytes;
    finishSerializedRequest(out, start, g, opt);
    return true;
}

namespace {

/// A forward reader of PHP-serialized bytes for the few shapes an answer
/// has; any surprise returns false and the caller decodes the full way.
struct PhpReader {
    std::string_view s;
    std::size_t p = 0;

    bool take(char c) {
        if (p >= s.size() || s[p] != c) return false;
        ++p;
        return true;
    }
    bool peek(char c) const { return p < s.size() && s[p] == c; }
    bool number(long long& v) {
        bool neg = take('-');
        std::size_t start = p;
        long long x = 0;
        while (p < s.size() && s[p] >= '0' && s[p] <= '9' && p - start < 18) x = x * 10 + (s[p++] - '0');
        if (p == start) return false;
        v = neg ? -x : x;
        return true;
    }
    bool integer(long long& v) { return take('i') && take(':') && number(v) && take(';'); }
    bool string(std::string_view& v) {
        long long n = 0;
        if (!take('s') || !take(':') || !number(n) || n < 0 || !take(':') || !take('"')) return false;
        if (s.size() - p < static_cast<std::size_t>(n) + 2) return false;
        v = s.substr(p, static_cast<std::size_t>(n));
        p += static_cast<std::size_t>(n);
        return take('"') && take(';');
    }
    bool arrayStart(long long& n) { return take('a') && take(':') && number(n) && n >= 0 && take(':') && take('{'); }
    /// Steps over one value nested `depth` arrays deep (the envelope is
    /// depth 1), checked by unserialize's rules and depth limit there.
    bool skip(std::size_t depth) {
        dora::sdk::DecodeLimits limits;
        if (depth >= limits.maxDepth) return false;
        limits.maxDepth -= depth;
        try {
            p += dora::sdk::measure(s.substr(p), limits);
            return true;
        } catch (const std::exception&) {
            return false;
        }
    }
    /// A key as Value decoding makes it (a numeric string becomes an int).
    bool key(Key& k) {
        if (peek('i')) {
            long long v = 0;
            if (!integer(v)) return false;
            k = Key(static_cast<std::int64_t>(v));
            return true;
        }
        std::string_view v;
        if (!string(v)) return false;
        k = Key(v);
        return true;
    }
};

/// The fields of an answer-shaped array (code, msg, data, ...).
struct Fields {
    long long entries = 0;
    bool hasCode = false, hasMsg = false, hasData = false;
    long long code = 0, isResult = 0;
    std::string_view msg, guid;
    std::size_t dataAt = 0, dataEnd = 0;
};

/// Reads the array at r.p, `depth` arrays deep once entered (or, when it is
/// not an array, skips the value and sets isArray false). False on a field
/// of an unexpected type. onData(r) reads the "data" field's value where it
/// lies (and steps over it), so nothing is read twice.
template <class OnData>
bool readFields(PhpReader& r, Fields& f, bool& isArray, std::size_t depth, OnData onData) {
    isArray = r.peek('a');
    if (!isArray) return r.skip(depth - 1);
    if (!r.arrayStart(f.entries)) return false;
    for (long long k = 0; k < f.entries; ++k) {
        std::string_view name;
        if (r.peek('i')) {
            long long ignored = 0;
            if (!r.integer(ignored)) return false;
        } else if (!r.string(name)) {
            return false;
        }
        if (name == "code") {
            if (!r.peek('i') || !r.integer(f.code)) return false;
            f.hasCode = true;
        } else if (name == "msg" && r.peek('s')) {
            if (!r.string(f.msg)) return false;
            f.hasMsg = true;
        } else if (name == "guid" && r.peek('s')) {
            if (!r.string(f.guid)) return false;
        } else if (name == "isresult" && r.peek('i')) {
            if (!r.integer(f.isResult)) return false;
        } else if (name == "data") {
            std::size_t at = r.p;
            if (!onData(r)) return false;
            f.hasData = true;
            f.dataAt = at;
            f.dataEnd = r.p;
        } else {
            if (name == "msg" || name == "guid" || name == "isresult") return false; // another type
            if (!r.skip(depth)) return false;
        }
    }
    return r.take('}');
}

bool readFields(PhpReader& r, Fields& f, bool& isArray, std::size_t depth) {
    return readFields(r, f, isArray, depth, [depth](PhpReader& rr) { return rr.skip(depth); });
}

/// One call's slot, read in place: its fields and where it lies.
struct Slot {
    Fields f;
    bool isArray = false;
    std::size_t at = 0, end = 0;
};

/// Reads the slot at r.p, `depth` arrays deep once entered.
bool readSlot(PhpReader& r, Slot& slot, std::size_t depth) {
    slot.at = r.p;
    if (!readFields(r, slot.f, slot.isArray, depth)) return false;
    slot.end = r.p;
    return true;
}

/// One call's outcome from its slot, as v1Call / v2Call decide it.
void callOutcome(std::string_view bytes, const Slot& slot, Generation g, CallView& c) {
    const Fields& f = slot.f;
    if (g == Generation::V2) {
        if (!slot.isArray || !f.hasCode) {
            c.code = code::kBadAnswer;
            c.unshaped = true;
            c.msg = {};
            c.data = {};
            return;
        }
        c.code = static_cast<int>(f.code);
        c.msg = f.msg;
        c.data = c.code != 0 ? std::string_view()
                 : f.hasData ? bytes.substr(f.dataAt, f.dataEnd - f.dataAt)
                             : std::string_view("N;");
        return;
    }
    if (slot.isArray && f.entries == 3 && f.hasCode && f.code != 0 && f.hasMsg && f.hasData) {
        c.code = static_cast<int>(f.code);
        c.msg = f.msg;
        c.data = {};
        return;
    }
    c.code = 0;
    c.msg = "OK";
    c.data = bytes.substr(slot.at, slot.end - slot.at);
}

/// A key's bytes as PhpReader::key reads them, kept as a view.
bool keyView(PhpReader& r, CallView& c) {
    c.keyIsInt = r.peek('i');
    c.key = {};
    if (c.keyIsInt) {
        long long v = 0;
        if (!r.integer(v)) return false;
        c.keyInt = v;
        return true;
    }
    return r.string(c.key);
}

} // namespace

TakeStatus scanAnswer(std::string_view in, const WireOptions& opt, bool multi, AnswerView& out,
                      std::size_t& consumed, std::string& err, bool& lean) {
    lean = false;
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
    out.answeredIn = fromProto(frame.generation);
    std::string_view body = frame.body;
    if (frame.generation == proto::Generation::Json ||
        (body.size() >= 2 && static_cast<unsigned char>(body[0]) == 0x1f &&
         static_cast<unsigned char>(body[1]) == 0x8b))
        return TakeStatus::Ok; // lean stays false: decode it the full way
    // The envelope at depth 1; its data is read where it lies: a single
    // call's slot (depth 2), or a multi call's array of slots (depth 3).
    // A data field of another shape is only stepped over; then the calls
    // are read from it below, or the full path takes the answer.
    out.calls.clear();
    const Generation gen = out.answeredIn;
    bool callsRead = false, callsOk = true;
    auto onData = [&](PhpReader& d) {
        // (A second data field replaces the first, as in the value path.)
        out.calls.clear();
        callsRead = false;
        callsOk = true;
        const std::size_t at = d.p;
        if (!multi) {
            Slot slot;
            if (d.peek('a') && readSlot(d, slot, 2)) {
                CallView c;
                c.key = "one";
                callOutcome(body, slot, gen, c);
                out.calls.push_back(c);
                callsRead = true;
                return true;
            }
        } else if (d.peek('a')) {
            long long n = 0;
            bool ok = d.arrayStart(n);
            for (long long k = 0; ok && k < n; ++k) {
                CallView c;
                Slot slot;
                ok = keyView(d, c) && readSlot(d, slot, 3);
                if (ok) {
                    callOutcome(body, slot, gen, c);
                    out.calls.push_back(c);
                }
            }
            if (ok && d.take('}')) {
                callsRead = true;
                return true;
            }
        }
        // Not the slot shape: check and step over it as any value, and
        // say so (the calls cannot be read lean).
        out.calls.clear();
        d.p = at;
        callsOk = false;
        return d.skip(1);
    };
    PhpReader r{body};
    Fields f;
    bool isArray = false;
    if (!readFields(r, f, isArray, 1, onData) || !isArray || !f.hasCode || r.p != body.size())
        return TakeStatus::Ok;
    out.code = static_cast<int>(f.code);
    out.msg = f.msg;
    out.guid = f.guid.empty() ? frame.guid : f.guid;
    out.isResult = f.isResult == 1;
    if (out.code != code::kOk) {
        out.calls.clear();
    } else if (!f.hasData) {
        // No data field: the value path reads null.
        out.calls.clear();
        if (!multi) {
            Slot slot;
            PhpReader d{"N;"};
            readSlot(d, slot, 2);
            CallView c;
            c.key = "one";
            callOutcome("N;", slot, gen, c);
            out.calls.push_back(c);
        }
    } else if (!callsRead) {
        // A single call's data that is not an array is still its result
        // (v1) or an unshaped slot (v2); a multi call's non-array data
        // has no calls. Other surprises go to the full path.
        if (!callsOk && multi && body[f.dataAt] == 'a') return TakeStatus::Ok;
        if (!multi) {
            Slot slot;
            PhpReader d{body};
            d.p = f.dataAt;
            if (!readSlot(d, slot, 2)) return TakeStatus::Ok;
            CallView c;
            c.key = "one";
            callOutcome(body, slot, gen, c);
            out.calls.push_back(c);
        }
    }
    lean = true;
    return TakeStatus::Ok;
}

TakeStatus takeAnswerOutcome(std::string_view in, const WireOptions& opt, bool multi, Result& out,
                             Generation& answeredIn, std::size_t& consumed, std::string& err,
                             bool& lean) {
    AnswerView v;
    v.answeredIn = answeredIn;
    TakeStatus st = scanAnswer(in, opt, multi, v, consumed, err, lean);
    if (st != TakeStatus::Ok) return st;
    answeredIn = v.answeredIn;
    if (!lean) return st;
    out.code = v.code;
    out.msg = std::string(v.msg);
    out.guid = std::string(v.guid);
    out.isResult = v.isResult;
    out.data = Value();
    out.calls.clear();
    for (const CallView& cv : v.calls) {
        CallResult c;
        c.key = cv.keyIsInt ? Key(cv.keyInt) : Key(cv.key);
        c.code = cv.code;
        c.msg = std::string(cv.msg);
        if (cv.unshaped)
            c.msg = "answer for call '" + c.key.toString() +
                    "' lacks the [guid, code, msg, data] shape";
        out.calls.push_back(std::move(c));
    }
    return st;
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
