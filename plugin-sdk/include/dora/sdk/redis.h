// dora/sdk/redis.h — Redis on the connection the host lends to a call
// (ABI 1.2). Shaped like sql.h: the host owns the pool
// (redis.handler_connections in its config, never more connections than
// that); a handler's ctx takes a connection on its first Redis call and
// gives it back when the handler returns. A plugin never connects.
#ifndef DORA_SDK_REDIS_H
#define DORA_SDK_REDIS_H

#include <dora/sdk/abi.h>
#include <dora/sdk/error.h>
#include <dora/sdk/host.h>
#include <dora/sdk/serialize.h>
#include <dora/sdk/value.h>

#include <charconv>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dora::sdk {

/// One reply of a pipeline: the value, or the error reply's text.
struct RedisReply {
    Value value;
    std::optional<std::string> error; ///< set: Redis answered an error reply
    bool ok() const noexcept { return !error; }
};

/// Redis bound to one handler invocation (ctx). Arguments are binary-safe
/// strings. Replies come back as Values: bulk and status replies as
/// strings, integers as ints, nil as null, arrays as lists (RESP2). Every failure throws
/// RedisError: an error reply (status DORA_ERR_REDIS), or Redis unreachable (DORA_ERR_REDIS_DOWN,
/// isDown(); uncaught it answers kRedisDown).
///
/// Borrowed from Call or Batch, valid until the handler returns; not
/// thread-safe (a ctx belongs to the thread running its handler). On a
/// host older than ABI 1.2 every call throws RedisError naming the missing
/// host function (probe with Host::has(HostFn::redis_command)).
class Redis {
public:
    using Command = std::vector<std::string>;

    Redis(const dora_host_api* api, dora_ctx* ctx) noexcept : _api(api), _ctx(ctx) {}

    /// Runs one command: redis().command({"GET", key}).
    Value command(std::initializer_list<std::string_view> argv) {
        return run(encodeArgv(argv.begin(), argv.end()));
    }
    Value command(const Command& argv) { return run(encodeArgv(argv.begin(), argv.end())); }

    /// Runs commands in one round trip; one reply per command, in order.
    /// An error reply fails only its command (RedisReply::error); Redis
    /// unreachable throws.
    std::vector<RedisReply> pipeline(const std::vector<Command>& commands) {
        require(HostFn::redis_pipeline);
        std::string in = "a:" + std::to_string(commands.size()) + ":{";
        for (std::size_t i = 0; i < commands.size(); ++i) {
            in += "i:" + std::to_string(i) + ";";
            in += encodeArgv(commands[i].begin(), commands[i].end());
        }
        in += '}';
        dora_buf out{nullptr, 0};
        check(_api->redis_pipeline(_ctx, buf(in), &out));
        Value all = decode(out);
        std::vector<RedisReply> replies;
        if (!all.isArray() || all.asArray().size() != commands.size())
            throw RedisError(DORA_ERR_INTERNAL,
                             "the host's pipeline replies do not match the commands");
        for (auto& e : all.asArray()) {
            const Value* ok = e.value.isArray() ? e.value.asArray().find(Key(0)) : nullptr;
            const Value* v = e.value.isArray() ? e.value.asArray().find(Key(1)) : nullptr;
            if (!ok || !v || !ok->isBool())
                throw RedisError(DORA_ERR_INTERNAL, "a pipeline reply from the host is malformed");
            RedisReply r;
            if (ok->asBool())
                r.value = *v;
            else
                r.error = v->isString() ? v->asString() : std::string("error reply");
            replies.push_back(std::move(r));
        }
        return replies;
    }

    /// Like pipeline, but the first error reply throws RedisError naming
    /// the command's index; otherwise just the values.
    std::vector<Value> pipelineValues(const std::vector<Command>& commands) {
        std::vector<RedisReply> replies = pipeline(commands);
        std::vector<Value> out;
        out.reserve(replies.size());
        for (std::size_t i = 0; i < replies.size(); ++i) {
            if (replies[i].error)
                throw RedisError(DORA_ERR_REDIS, "pipeline command " + std::to_string(i) + " (" +
                                                     commands[i].front() +
                                                     "): " + *replies[i].error);
            out.push_back(std::move(replies[i].value));
        }
        return out;
    }

private:
    static dora_buf buf(std::string_view s) noexcept { return dora_buf{s.data(), s.size()}; }

    template <class It> static std::string encodeArgv(It first, It last) {
        std::size_t bytes = 16;
        for (It it = first; it != last; ++it)
            bytes += std::string_view(*it).size() + 32;
        std::string out;
        out.reserve(bytes);
        auto number = [&out](std::size_t n) {
            char digits[24];
            out.append(digits, std::to_chars(digits, digits + sizeof digits, n).ptr);
        };
        out += "a:";
        number(static_cast<std::size_t>(last - first));
        out += ":{";
        std::size_t i = 0;
        for (It it = first; it != last; ++it, ++i) {
            std::string_view a(*it);
            out += "i:";
            number(i);
            out += ";s:";
            number(a.size());
            out += ":\"";
            out.append(a.data(), a.size());
            out += "\";";
        }
        out += '}';
        return out;
    }

    void require(HostFn f) const {
        if (!detail::hostHas(_api, f))
            throw RedisError(DORA_ERR_STATE, "this host lacks " + detail::describe(f));
    }

    Value run(const std::string& argv) {
        require(HostFn::redis_command);
        dora_buf out{nullptr, 0};
        check(_api->redis_command(_ctx, buf(argv), &out));
        return decode(out);
    }

    static Value decode(dora_buf b) {
        if (b.ptr == nullptr || b.len == 0) return Value();
        try {
            return unserialize(std::string_view(b.ptr, b.len));
        } catch (const DecodeError& e) {
            throw RedisError(DORA_ERR_INTERNAL,
                             std::string("undecodable Redis reply: ") + e.what());
        }
    }

    void check(std::int32_t status) {
        if (status == DORA_OK) return;
        dora_buf text = _api->ctx_last_error(_ctx);
        std::string message(text.ptr ? text.ptr : "", text.ptr ? text.len : 0);
        if (status == DORA_ERR_REDIS_DOWN) {
            // The host logs the cause; the client learns it was not its call.
            throw RedisError(status, "Redis unavailable");
        }
        if (message.empty()) message = "Redis call failed (status " + std::to_string(status) + ")";
        throw RedisError(status, message);
    }

    const dora_host_api* _api;
    dora_ctx* _ctx;
};

} // namespace dora::sdk

#endif // DORA_SDK_REDIS_H
