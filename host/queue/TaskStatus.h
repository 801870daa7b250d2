// queue/TaskStatus.h — what became of an async request, by its guid, on any
// host of the cluster and after its client has gone. One Redis key per
// request, `<stream>:status:<guid>`, holding a small JSON record and
// expiring queue.status_ttl_sec after its last change:
//   * the producer side records "queued" with the stream entry id once XADD
//     stored it (SET NX on a connection and thread of its own, so the
//     answer 100001 never waits for it, and a consumer's record written
//     first is never overwritten);
//   * the consumer records "retrying", "applied" and "dead_lettered" in the
//     round trip that settles the entry (no extra round trip);
//   * "running" is not written: a reader finds a queued entry in the
//     group's pending list, with the node it was delivered to.
#pragma once

#include "pools/RedisSettings.h"
#include "queue/QueueSettings.h"

#include <dora/sdk/value.h>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace dora::pools {
class RedisConnection;
}

namespace dora::queue {

/// The key of a request's status record.
std::string statusKey(const std::string& stream, std::string_view guid);

/// Milliseconds since the Unix epoch (status records' times).
std::int64_t unixMs();

/// Writes "queued" records for stored requests. Thread-safe; the writes
/// happen on its own thread, pipelined.
class StatusRecorder {
public:
    StatusRecorder(pools::RedisSettings redis, QueueSettings settings);
    ~StatusRecorder();
    StatusRecorder(const StatusRecorder&) = delete;
    StatusRecorder& operator=(const StatusRecorder&) = delete;

    /// Request `guid` was stored as stream entry `entryId`. Cheap: a move
    /// into a vector under a lock the writer holds only to swap it.
    void queued(std::string_view guid, std::string_view entryId);
    void stop();
    std::uint64_t written() const;

private:
    void run();

    pools::RedisSettings _redis;
    QueueSettings _settings;
    std::unique_ptr<pools::RedisConnection> _conn;
    mutable std::mutex _mutex;
    std::condition_variable _cv;
    std::vector<std::pair<std::string, std::string>> _waiting; ///< key, record
    bool _stopping = false;
    std::uint64_t _written = 0;
    std::thread _thread;
};

/// The answer of taskStatus: reads the record, and for a queued one the
/// stream and the group's pending list. Throws std::runtime_error when
/// Redis cannot be reached; returns null when no record exists.
dora::sdk::Value readTaskStatus(const pools::RedisSettings& redis, const QueueSettings& settings,
                                std::string_view guid);

} // namespace dora::queue
