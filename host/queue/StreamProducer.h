// queue/StreamProducer.h — the producing side of the durable queue:
// accepted tasks are written to the Redis stream, and "accepted" (100001)
// is answered only once XADD has stored them.
#pragma once

#include "pools/RedisSettings.h"
#include "queue/QueueSettings.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace dora::pools {
class RedisConnection;
}

namespace dora::queue {

/// Writes accepted tasks to the stream. The I/O threads hand tasks over;
/// one thread pipelines every waiting XADD in a single round trip and
/// reports each result through its callback (on that thread).
class StreamProducer {
public:
    using Done = std::function<void(bool stored, const std::string& error)>;
    struct Task {
        std::string type; ///< request type, for the record
        std::string guid;
        std::string calls; ///< PHP-serialized [key => [name, param]]
        Done done;
    };

    StreamProducer(pools::RedisSettings redis, QueueSettings settings);
    ~StreamProducer();
    StreamProducer(const StreamProducer&) = delete;
    StreamProducer& operator=(const StreamProducer&) = delete;
    void submit(std::vector<Task>& tasks); ///< takes them all (thread-safe)
    void stop();

    std::uint64_t stored() const { return _stored.load(); }
    std::uint64_t refused() const { return _refused.load(); }
    /// Stream entries written holding more than one request (queue/Pack.h).
    std::uint64_t packs() const { return _packs.load(); }
    /// A pack is cut before its requests' calls pass this many bytes.
    static constexpr std::size_t kMaxPackBytes = 1 << 20;

private:
    void run();
    bool ensureConnected(std::string& error);
    /// queue.replicas_ack: WAIT once for the batch just written; on too few
    /// replicas clears `stored` and sets `error`.
    void replicasAcked(std::size_t n, std::vector<bool>& stored, std::string& error);

    pools::RedisSettings _redis;
    QueueSettings _settings;
    std::unique_ptr<pools::RedisConnection> _conn;
    std::mutex _mutex;
    std::condition_variable _cv;
    std::vector<Task> _waiting;
    bool _stopping = false;
    std::atomic<std::uint64_t> _stored{0}, _refused{0}, _packs{0};
    std::string _pack; ///< the pack being written (keeps its capacity)
    std::chrono::steady_clock::time_point _nextConnectTry{};
    std::string _lastConnectError;
    std::thread _thread;
};

} // namespace dora::queue
