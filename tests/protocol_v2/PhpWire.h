// tests/protocol_v2/PhpWire.h — frames and answers written out byte by
// byte the way the PHP DoraRPC clients and servers write them:
// pack('N', ...), crc32(), gzencode($s, 4), serialize(). Deliberately
// independent of the host's own encoders (only zlib is shared, as PHP
// shares it), so the tests compare the host against the clients, not
// against itself.
#pragma once

#include "common/TestSupport.h"

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dora::test::php {

inline const std::string kSalt = "=&$*#@(*&%(@"; ///< the clients' default salt
inline const std::string kAccepted = "transfer success.已经成功投递";

/// pack('N', n)
std::string packN(std::uint32_t n);
/// crc32($s) as PHP computes it.
std::uint32_t crc32(std::string_view s);
/// gzencode($s, 4) / gzdecode($s).
std::string gzencode(std::string_view s, int level = 4);
std::string gzdecode(std::string_view s);

// serialize() pieces: S("ab") = s:2:"ab"; I(5) = i:5;
std::string S(std::string_view s);
std::string I(std::int64_t v);
/// a:n:{<k1><v1>...} from already serialized keys and values.
std::string A(const std::vector<std::pair<std::string, std::string>>& kv);
inline const std::string kEmpty = "a:0:{}";

/// ['name' => name, 'param' => <param bytes>]
std::string call(std::string_view name, const std::string& param);
/// ['one' => call(name, param)]
std::string apiOne(std::string_view name, const std::string& param);
/// The v2 client's packet: ['guid' => g, 'api' => api, 'type' => t].
std::string v2Req(std::string_view guid, std::string_view type, const std::string& api);
/// The v1 client's packet: ['guid' => g, 'type' => t, 'api' => api].
std::string v1Req(std::string_view guid, std::string_view type, const std::string& api);

/// A v1 frame: pack('N', len [+4]) [. pack('N', crc32(body . salt))] . body
std::string v1Packet(const std::string& body, bool sign = false, const std::string& salt = kSalt);
/// A v2 frame as Packet::packEncode builds it: body gzipped first when
/// gzip, then pack('N', len + [4 +] 32) [. sig] . guid . body.
std::string v2Packet(std::string_view guid, const std::string& body, bool sign = false,
                     bool gzip = false, const std::string& salt = kSalt);

/// v1 answer body [code, msg, data, guid].
std::string v1Answer(std::int64_t code, std::string_view msg, const std::string& data,
                     std::string_view guid);
/// v2 answer body [guid, code, msg, data] (+ isresult => 1).
std::string v2Answer(std::string_view guid, std::int64_t code, std::string_view msg,
                     const std::string& data, bool isResult = false);

/// v[k1][k2]...: throws (naming the value) where a key is missing,
/// so a wrong answer fails the test instead of crashing the runner.
const dora::sdk::Value& at(const dora::sdk::Value& v, std::initializer_list<dora::sdk::Key> path);

/// A user name no other test (or test run) uses: prefix_<8 hex>. The
/// tests share the database with other suites and never wipe tables.
std::string uniqueName(const std::string& prefix);

/// The bytes of a whole frame as received: length prefix + payload.
std::string framed(const std::string& payload);

/// A plugins folder and a routes folder holding the build's plugins and
/// routes plus the named test fixtures (tests/fixtures/plugins/<name>);
/// removed when destroyed.
class FixtureDirs {
public:
    explicit FixtureDirs(const std::vector<std::string>& fixtures);
    ~FixtureDirs();
    FixtureDirs(const FixtureDirs&) = delete;
    FixtureDirs& operator=(const FixtureDirs&) = delete;
    const std::string& plugins() const { return _plugins; }
    const std::string& routes() const { return _routes; }

private:
    std::string _root, _plugins, _routes;
};

/// The host configurations the suites share (started on first use, kept
/// until the runner exits): `plain`, `signed`, `gzip`, `signed_gzip`,
/// `limits`, `idle`. All have the slow fixture loaded.
HostProcess& host(const std::string& name);

/// Printable form of bytes: printable ASCII and UTF-8 as is, other bytes
/// as \xNN.
std::string printable(std::string_view bytes);

} // namespace dora::test::php
