#include "protocol/Response.h"

#include "protocol/Wire.h"

#include <dora/sdk/serialize.h>

#include <charconv>
#include <cstring>

namespace dora::protocol {

using dora::sdk::Key;
using dora::sdk::Value;

void phpInt(std::string& out, long long v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out += "i:";
    out.append(buf, r.ptr);
    out += ';';
}

void phpString(std::string& out, std::string_view s) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, s.size());
    out += "s:";
    out.append(buf, r.ptr);
    out += ":\"";
    out.append(s);
    out += "\";";
}

void phpKey(std::string& out, const Key& k) {
    if (k.isInt())
        phpInt(out, k.intValue());
    else
        phpString(out, k.stringValue());
}

namespace {

const char* const kEmptyArray = "a:0:{}";

/// A constant already serialized (keys and fixed strings): one append.
template <std::size_t N> void lit(std::string& out, const char (&bytes)[N]) { out.append(bytes, N - 1); }

void appendData(std::string& out, const CallOutcome& r) {
    if (r.data.empty())
        out += "N;";
    else
        out += r.data;
}

// v1: a handler error is itself [code, msg, data] in the data slot.
void appendV1Result(std::string& out, const CallOutcome& r) {
    if (r.code == 0) {
        appendData(out, r);
        return;
    }
    out += "a:3:{";
    phpString(out, "code");
    phpInt(out, r.code);
    phpString(out, "msg");
    phpString(out, r.msg);
    phpString(out, "data");
    out += kEmptyArray;
    out += '}';
}

// v2: each call is [guid, code, msg, data].
void appendV2Result(std::string& out, std::string_view guid, const CallOutcome& r) {
    lit(out, "a:4:{s:4:\"guid\";");
    phpString(out, guid);
    lit(out, "s:4:\"code\";");
    phpInt(out, r.code);
    if (r.code == 0) {
        lit(out, "s:3:\"msg\";s:2:\"OK\";");
    } else {
        lit(out, "s:3:\"msg\";");
        phpString(out, r.msg);
    }
    lit(out, "s:4:\"data\";");
    if (r.code == 0)
        appendData(out, r);
    else
        out += kEmptyArray;
    out += '}';
}

// The outer envelope, with the inner data written by `inner`.
template <class F>
void appendEnvelope(std::string& out, const Addressee& to, int code, std::string_view msg,
                    bool isResult, F&& inner) {
    if (isResult)
        lit(out, "a:5:{");
    else
        lit(out, "a:4:{");
    if (to.generation == Generation::V2) {
        lit(out, "s:4:\"guid\";");
        phpString(out, to.guid);
    }
    lit(out, "s:4:\"code\";");
    phpInt(out, code);
    lit(out, "s:3:\"msg\";");
    phpString(out, msg);
    lit(out, "s:4:\"data\";");
    inner(out);
    if (to.generation != Generation::V2) {
        lit(out, "s:4:\"guid\";");
        phpString(out, to.guid);
    }
    if (isResult) lit(out, "s:8:\"isresult\";i:1;");
    out += '}';
}

/// Writes into room made once (`out` grown to an upper bound, trimmed by
/// done()): the single answer's dozen pieces without a capacity check and
/// a library call each (they were a quarter of a pipelined echo call's
/// instructions).
class RawWriter {
public:
    RawWriter(std::string& out, std::size_t bound) : _out(out), _at(out.size()) { out.resize(_at + bound); }
    template <std::size_t N> void lit(const char (&bytes)[N]) { put(std::string_view(bytes, N - 1)); }
    void put(std::string_view v) {
        std::memcpy(&_out[_at], v.data(), v.size());
        _at += v.size();
    }
    void number(long long v) {
        char digits[24];
        put(std::string_view(digits, static_cast<std::size_t>(std::to_chars(digits, digits + sizeof digits, v).ptr - digits)));
    }
    void integer(long long v) {
        lit("i:");
        number(v);
        put(";");
    }
    void string(std::string_view v) {
        lit("s:");
        number(static_cast<long long>(v.size()));
        lit(":\"");
        put(v);
        lit("\";");
    }
    void done() { _out.resize(_at); }

private:
    std::string& _out;
    std::size_t _at;
};

/// appendEnvelope(to, 0, "OK", isResult, appendV2Result / appendV1Result)
/// in one pass: the same bytes (AnswerBytesTest compares them).
void writeSingleAnswer(std::string& out, const Addressee& to, const CallOutcome& r, bool isResult) {
    const bool v2 = to.generation == Generation::V2;
    const std::size_t bound = 256 + 2 * to.guid.size() + r.msg.size() + r.data.size();
    RawWriter w(out, bound);
    if (isResult)
        w.lit("a:5:{");
    else
        w.lit("a:4:{");
    if (v2) {
        w.lit("s:4:\"guid\";");
        w.string(to.guid);
    }
    w.lit("s:4:\"code\";i:0;s:3:\"msg\";s:2:\"OK\";s:4:\"data\";");
    auto data = [&] {
        if (r.data.empty())
            w.lit("N;");
        else
            w.put(r.data);
    };
    if (v2) {
        w.lit("a:4:{s:4:\"guid\";");
        w.string(to.guid);
        w.lit("s:4:\"code\";");
        w.integer(r.code);
        if (r.code == 0) {
            w.lit("s:3:\"msg\";s:2:\"OK\";s:4:\"data\";");
            data();
        } else {
            w.lit("s:3:\"msg\";");
            w.string(r.msg);
            w.lit("s:4:\"data\";a:0:{}");
        }
        w.lit("}");
    } else if (r.code == 0) {
        data();
    } else {
        w.lit("a:3:{s:4:\"code\";");
        w.integer(r.code);
        w.lit("s:3:\"msg\";");
        w.string(r.msg);
        w.lit("s:4:\"data\";a:0:{}}");
    }
    if (!v2) {
        w.lit("s:4:\"guid\";");
        w.string(to.guid);
    }
    if (isResult) w.lit("s:8:\"isresult\";i:1;");
    w.lit("}");
    w.done();
}

// Frames a PHP-serialized body in the addressee's generation and codec.
void frameBody(std::string& out, const Addressee& to, std::string& body, const EncodeOptions& opt) {
    if (to.generation == Generation::Json) {
        std::string json = toJson(dora::sdk::unserialize(body));
        appendFrame(out, to.generation, {}, json, opt.frame);
        return;
    }
    if (to.generation == Generation::V2 && opt.gzip) {
        std::string z = gzipEncode(body, 4);
        appendFrame(out, to.generation, to.guid, z, opt.frame);
        return;
    }
    appendFrame(out, to.generation, to.guid, body, opt.frame);
}

} // namespace

void appendSingleAnswer(std::string& out, const Addressee& to, const CallOutcome& r,
                        const EncodeOptions& opt, bool isResult) {
    if (to.generation != Generation::Json && !(to.generation == Generation::V2 && opt.gzip)) {
        // Plain PHP bytes: written straight into the frame, no body copy.
        std::size_t start = beginFrame(out, to.generation, to.guid, opt.frame);
        writeSingleAnswer(out, to, r, isResult);
        finishFrame(out, start, to.generation, opt.frame);
        return;
    }
    std::string body;
    appendSingleAnswerBody(body, to, r, isResult);
    frameBody(out, to, body, opt);
}

void appendSingleAnswerBody(std::string& out, const Addressee& to, const CallOutcome& r, bool isResult) {
    out.reserve(out.size() + r.data.size() + 160);
    appendEnvelope(out, to, 0, "OK", isResult, [&](std::string& b) {
        if (to.generation == Generation::V2)
            appendV2Result(b, to.guid, r);
        else
            appendV1Result(b, r);
    });
}

void appendMultiAnswer(std::string& out, const Addressee& to,
                       const std::vector<std::pair<Key, CallOutcome>>& results,
                       const EncodeOptions& opt, bool isResult) {
    std::string body;
    std::size_t size = 160;
    for (const auto& [k, r] : results) size += r.data.size() + 96;
    body.reserve(size);
    appendEnvelope(body, to, 0, "OK", isResult, [&](std::string& b) {
        b += "a:";
        b += std::to_string(results.size());
        b += ":{";
        for (const auto& [k, r] : results) {
            phpKey(b, k);
            if (to.generation == Generation::V2)
                appendV2Result(b, to.guid, r);
            else
                appendV1Result(b, r);
        }
        b += '}';
    });
    frameBody(out, to, body, opt);
}

void appendStatusAnswer(std::string& out, const Addressee& to, int code, std::string_view msg,
                        const Value& data, const EncodeOptions& opt) {
    std::string body;
    appendEnvelope(body, to, code, msg, false, [&](std::string& b) {
        if (data.isNull())
            b += kEmptyArray;
        else
            dora::sdk::serializeTo(b, data);
    });
    frameBody(out, to, body, opt);
}

} // namespace dora::protocol
