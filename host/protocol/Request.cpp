#include "protocol/Request.h"

#include "protocol/Codes.h"
#include "protocol/PhpScan.h"
#include "protocol/Wire.h"
#include "protocol/Response.h"

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
        if (const Value* p = cmd->find("param")) dora::sdk::serializeTo(c.params, *p);
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
        if (const Value* p = e.value.find("param")) dora::sdk::serializeTo(c.params, *p);
        out.calls.push_back(std::move(c));
    }
    return true;
}

namespace {

/// A read-only walk over a PHP-serialized request body that keeps each
/// call's param as the bytes it came in. It accepts only what the full
/// decode accepts and gives up (returns false) at the first thing it does
/// not expect, so every refusal, with its exact message, still comes from
/// the full decode.
class FastBody {
public:
    explicit FastBody(std::string_view in) : _s(in) {}

    bool read(Generation gen, const RequestLimits& limits, Request& out) {
        std::size_t n = 0;
        if (!_s.header('a', n)) return false;
        std::string_view type;
        std::string_view apiBytes;
        bool haveApi = false;
        for (std::size_t i = 0; i < n; ++i) {
            std::string_view k;
            if (!_s.string(k)) return false;
            if (k == "guid") {
                std::string_view g;
                if (!_s.string(g)) return false;
                out.guid.assign(g);
            } else if (k == "type") {
                if (!_s.string(type)) return false;
            } else if (k == "api") {
                out.calls.clear();
                _canonical = true;
                const std::size_t from = _s.at();
                if (!calls(out.calls)) return false;
                apiBytes = _s.since(from);
                haveApi = true;
            } else if (!skip()) {
                return false;
            }
        }
        if (!_s.close() || !_s.atEnd() || !haveApi || out.calls.empty() || !modeOf(type, out.mode)) return false;
        // Control requests and limit refusals take the full path (rare).
        if (out.mode == Mode::Control) return false;
        if (!isMulti(out.mode) && (out.calls.size() != 1 || out.calls.front().key != dora::sdk::Key("one")))
            return false;
        if (isMulti(out.mode) && out.calls.size() > limits.maxCalls) return false;
        out.generation = gen;
        out.type.assign(type);
        // Every token of the walk is at least as long as encodeCalls's
        // form of it (no leading zeros, an int key shorter than the string
        // it came as, nothing repeated or extra), and the fields of each
        // call came as name, param: the same length means the same bytes.
        if (_canonical && apiBytes.size() == encodedCallsSize(out.calls)) out.storedCalls = apiBytes;
        return true;
    }

private:
    /// A call's key: i:N; (non-negative, no leading zero: anything else
    /// takes the full path) or a string (which PHP turns into an int when
    /// it looks like one: Key does the same).
    bool key(dora::sdk::Key& k) {
        if (_s.peek() == 'i') {
            std::size_t v = 0;
            if (!_s.lit("i:") || !_s.digits(v, 18, true) || !_s.lit(";")) return false;
            k = dora::sdk::Key(static_cast<std::int64_t>(v));
            return true;
        }
        std::string_view s;
        if (!_s.string(s)) return false;
        k = dora::sdk::Key(s);
        return true;
    }
    bool skip(std::string_view* bytes = nullptr, const dora::sdk::DecodeLimits& limits = {}) {
        try {
            std::size_t len = dora::sdk::measure(_s.rest(), limits);
            if (bytes) *bytes = _s.rest().substr(0, len);
            _s.advance(len);
            return true;
        } catch (const dora::sdk::DecodeError&) {
            return false;
        }
    }
    static void assign(std::string& to, std::string_view from) { to.assign(from); }
    static void assign(std::string_view& to, std::string_view from) { to = from; }

public:
    /// C is Call (owned copies) or CallView (views into the input).
    template <class C>
    bool calls(std::vector<C>& out) {
        std::size_t n = 0;
        if (!_s.header('a', n)) return false;
        out.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
            C c;
            if (!key(c.key)) return false;
            std::size_t fields = 0;
            if (!_s.header('a', fields)) return false;
            bool named = false;
            if (fields != 2) _canonical = false;
            for (std::size_t f = 0; f < fields; ++f) {
                std::string_view k;
                if (!_s.string(k)) return false;
                if (k != (f == 0 ? std::string_view("name") : std::string_view("param"))) _canonical = false;
                if (k == "name") {
                    std::string_view name;
                    if (!_s.string(name) || name.empty()) return false;
                    assign(c.api, name);
                    named = true;
                } else if (k == "param") {
                    // The param sits three arrays deep in the body.
                    dora::sdk::DecodeLimits limits;
                    limits.maxDepth -= 3;
                    std::string_view bytes;
                    if (!skip(&bytes, limits)) return false;
                    assign(c.params, bytes);
                } else if (!skip()) {
                    return false;
                }
            }
            if (!named || !_s.close()) return false;
            // A repeated key replaces the earlier call in its place, as PHP.
            bool replaced = false;
            for (auto& existing : out)
                if (existing.key == c.key) {
                    existing = std::move(c);
                    replaced = true;
                    _canonical = false;
                    break;
                }
            if (!replaced) out.push_back(std::move(c));
        }
        return _s.close();
    }
    bool atEnd() const { return _s.atEnd(); }

private:
    static std::size_t digits(std::size_t n) {
        std::size_t d = 1;
        while (n >= 10) {
            n /= 10;
            ++d;
        }
        return d;
    }
    static std::size_t phpStringSize(std::size_t n) { return n + digits(n) + 6; } // s:<n>:"...";
    /// The size of encodeCalls(calls), without writing it.
    static std::size_t encodedCallsSize(const std::vector<Call>& calls) {
        std::size_t n = 4 + digits(calls.size()) + 1; // a:<n>:{ ... }
        for (const Call& c : calls) {
            if (c.key.isInt() && c.key.intValue() < 0) return 0; // the walk takes none: never stored as is
            if (c.key.isInt())
                n += 3 + digits(static_cast<std::size_t>(c.key.intValue())); // i:<v>;
            else
                n += phpStringSize(c.key.stringValue().size());
            n += 5 + phpStringSize(4) + phpStringSize(c.api.size()) + phpStringSize(5) + // a:2:{ name api param
                 (c.params.empty() ? 2 : c.params.size()) + 1;                            // value }
        }
        return n;
    }

    PhpScan _s;
    bool _canonical = true; ///< the calls' fields came as name, param
};

} // namespace

void encodeCalls(const std::vector<Call>& calls, std::string& out) {
    std::size_t bytes = 16;
    for (const auto& call : calls)
        bytes += 64 + call.api.size() + call.params.size() + (call.key.isInt() ? 0 : call.key.stringValue().size());
    out.reserve(out.size() + bytes);
    out += "a:";
    out += std::to_string(calls.size());
    out += ":{";
    for (const auto& call : calls) {
        phpKey(out, call.key);
        out += "a:2:{";
        phpString(out, "name");
        phpString(out, call.api);
        phpString(out, "param");
        out += call.params.empty() ? std::string_view("N;") : std::string_view(call.params);
        out += '}';
    }
    out += '}';
}

bool decodeCallViews(std::string_view bytes, std::vector<CallView>& out) {
    out.clear();
    FastBody fast(bytes);
    if (fast.calls(out) && fast.atEnd()) return true;
    out.clear();
    return false;
}

bool decodeCalls(std::string_view bytes, std::vector<Call>& out, std::string& error) {
    out.clear();
    FastBody fast(bytes);
    if (fast.calls(out) && fast.atEnd()) return true;
    // Anything the walk does not expect: decode it whole, for the error
    // message or for a record written another way.
    out.clear();
    Value v;
    try {
        v = dora::sdk::unserialize(bytes);
    } catch (const std::exception& e) {
        error = e.what();
        return false;
    }
    if (!v.isArray()) {
        error = "not an array of calls";
        return false;
    }
    for (const auto& e : v.asArray()) {
        Call c;
        c.key = e.key;
        const Value* name = e.value.find("name");
        c.api = name && name->isString() ? name->asString() : std::string();
        if (const Value* p = e.value.find("param")) dora::sdk::serializeTo(c.params, *p);
        out.push_back(std::move(c));
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
    if (frame.generation != Generation::Json) {
        FastBody fast(body);
        out = Request{};
        if (fast.read(frame.generation, limits, out)) {
            if (frame.generation == Generation::V2 && out.guid.empty()) out.guid = std::string(frame.guid);
            if (!inflated.empty()) out.storedCalls = {}; // it would view this function's buffer
            return true;
        }
        out.storedCalls = {};
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
