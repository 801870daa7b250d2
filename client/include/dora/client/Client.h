// dora/client/Client.h — a blocking DoraRPC client: single and multi calls
// in every mode, control commands, a server list with random pick,
// failover and a blocklist, retries, guid checks, timeouts, persistent
// connections and v2 pipelining.
//
// A Client is not thread-safe: use one per thread (as the PHP client is
// one per process). It owns its connections and keeps them open between
// calls; destroying it closes them.
#pragma once

#include <dora/client/Codec.h>
#include <dora/client/Result.h>
#include <dora/client/Tls.h>
#include <dora/sdk/value.h>

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace dora::client {

/// A server address.
struct Server {
    std::string host;
    std::uint16_t port = 0;
    std::string toString() const; ///< "host:port" ("[v6]:port")
};

/// Parses "host:port" or "[ipv6]:port"; throws std::invalid_argument with
/// the reason.
Server parseServer(std::string_view text);

struct ClientOptions {
    std::vector<Server> servers;            ///< picked at random per request
    /// Instead of servers: the DoraRPC v2 registry ("HOST:PORT" or
    /// "unix:PATH", a Redis) and the group to call. The client reads the
    /// live, not draining servers of the group at construction (throwing
    /// when there is none) and again once every known server has failed.
    std::string registry;
    std::string group = "default";
    Generation generation = Generation::V2; ///< what to speak
    WireOptions wire;
    int connectTimeoutMs = 3000;
    int timeoutMs = 10000; ///< for each answer (DoraRPC: SW_RECIVE_TIMEOUT)
    /// Extra attempts, each on a server picked afresh, when trying again
    /// is safe: the connection could not be made, or the server answered
    /// busy (100202, 100206) or shutting down (100209, and that server is
    /// blocklisted). After a timeout or a connection lost mid-request the
    /// call may have run, so it is not sent again (control commands are).
    int retry = 0;
    /// Also retry after a timeout or a lost connection (the call may then
    /// run twice: only for idempotent calls).
    bool retryUnsafe = false;
    /// The server's control.token, sent with every control command as
    /// param `token` (empty: none).
    std::string controlToken;
    /// TLS to every server (a host with server.tls); a bad CA, certificate
    /// or key file makes the constructor throw std::runtime_error. A server
    /// whose handshake fails counts as one that could not be connected to.
    TlsOptions tls;
};

/// One request to send.
struct Request {
    Mode mode = Mode::Sync;
    bool multi = false;
    dora::sdk::Value api; ///< key => ["name" => .., "param" => ..]

    static Request single(std::string_view api, const dora::sdk::Value& param,
                          Mode mode = Mode::Sync);
    /// `calls` is key => ["name" => .., "param" => ..].
    static Request multiple(const dora::sdk::Value& calls, Mode mode = Mode::Sync);
};

class Client {
public:
    /// Throws std::invalid_argument if there is no server (or the registry
    /// address is bad), std::runtime_error if the registry cannot be read
    /// or lists no live server of the group.
    explicit Client(ClientOptions options);
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    /// DoraRPC singleAPI: one call. Sync: code 0 with calls[0] the
    /// handler's outcome. Async/AsyncResult: code 100001 when accepted.
    Result call(std::string_view api, const dora::sdk::Value& param, Mode mode = Mode::Sync);
    /// DoraRPC multiAPI: `calls` is key => ["name" => .., "param" => ..].
    Result multi(const dora::sdk::Value& calls, Mode mode = Mode::Sync);
    /// Any request, with retry and failover.
    Result execute(const Request& request);

    /// Control commands (SC). getStat's data is ["server" => [counters]].
    Result getStat();
    Result reloadTask();
    /// Any control command with its param (an array, or null for none);
    /// the control token is added to it when one is set.
    Result control(std::string_view command, const dora::sdk::Value& param);

    /// Sends every request on one connection before reading any answer,
    /// then matches answers by guid (v2 pipelining; v1 and JSON send them
    /// back to back the same way). Results come back in request order.
    /// No retry: a failure fails the requests not yet answered.
    std::vector<Result> pipeline(const std::vector<Request>& requests);

    /// DoraRPC getAsyncData: waits for the pushed result of every AM_*
    /// request accepted so far (or until timeoutMs passes), and returns
    /// them by guid. Those that did not come get 100009 (timeout) or
    /// 100012 (connection closed first).
    std::map<std::string, Result> asyncResults(int timeoutMs);
    /// AM_* requests accepted whose result has not been collected yet.
    std::size_t asyncPending() const;

    /// Servers currently on the blocklist (failed to connect). The list is
    /// cleared when every server has failed.
    std::vector<Server> blockedServers() const;
    /// Connections held open right now.
    std::size_t openConnections() const;
    /// Closes every connection (the next request reconnects).
    void disconnect();

    const ClientOptions& options() const { return _opt; }

private:
    class Connection;
    struct Pending;

    /// Reads the registry again (when one is configured and nothing
    /// waits for a pushed result); true if servers were found.
    bool refresh();
    bool retryable(int code, bool control) const;
    Result once(const Request& request, const std::string& guid, const std::string& bytes,
                std::string_view type);
    Connection* acquire(Result& failure);
    void drop(Connection* c, int code, const std::string& why);
    /// Reads answers until `want` arrives, storing pushed results of other
    /// AM_* guids; returns false with r filled on failure.
    bool awaitAnswer(Connection& c, const std::string& want, bool multi, Result& r);
    bool onStray(Connection& c, Result&& r, Generation gen);

    ClientOptions _opt;
    std::shared_ptr<TlsContext> _tls; ///< null: plain TCP
    std::mt19937_64 _rng;
    std::uint64_t _nextConnId = 1;
    std::vector<std::unique_ptr<Connection>> _conns;        ///< one slot per server
    std::vector<bool> _blocked;                             ///< per server
    std::map<std::string, std::unique_ptr<Pending>> _async; ///< AM_* guid => where
    std::map<std::string, Result> _asyncDone;               ///< pushed results already read
};

} // namespace dora::client
