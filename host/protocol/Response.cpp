#include "protocol/Response.h"

#include "protocol/Wire.h"

#include <dora/sdk/serialize.h>

#include <charconv>

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
    auto inner = [&](std::string& b) {
        if (to.generation == Generation::V2)
            appendV2Result(b, to.guid, r);
        else
            appendV1Result(b, r);
    };
    if (to.generation != Generation::Json && !(to.generation == Generation::V2 && opt.gzip)) {
        // Plain PHP bytes: written straight into the frame, no body copy.
        out.reserve(out.size() + r.data.size() + 200);
        std::size_t start = beginFrame(out, to.generation, to.guid, opt.frame);
        appendEnvelope(out, to, 0, "OK", isResult, inner);
        finishFrame(out, start, to.generation, opt.frame);
        return;
    }
    std::string body;
    body.reserve(r.data.size() + 160);
    appendEnvelope(body, to, 0, "OK", isResult, inner);
    frameBody(out, to, body, opt);
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
