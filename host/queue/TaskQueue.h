// queue/TaskQueue.h — the durable async path. "Accepted" (100001) means the
// task is in a Redis stream; a consumer group runs it through the plugin in
// batches, one MySQL transaction per batch, and acknowledges (XACK + XDEL)
// only after the commit. Exactly once: each task's id is written to
// dora_processed_tasks in the same transaction as its effects, so a replay
// after a crash finds it and skips it.
#pragma once

#include "pools/MySqlPool.h"
#include "pools/Redis.h"
#include "plugins/Plugin.h"
#include "stats/Stats.h"
#include "workers/TaskPool.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace dora::queue {

struct QueueSettings {
    std::string stream = "dora:tasks";
    std::string group = "dorahost";
    std::string deadLetterStream = "dora:dead";
    std::string consumer;          ///< this node's consumer name
    int batchSize = 64;
    int batchLatencyMs = 5;
    int maxRetries = 5;            ///< handler failures before dead-lettering
    int retryBackoffMs = 200;      ///< doubled per attempt
    int claimIdleMs = 30000;       ///< take over other consumers' tasks idle this long
    int ledgerRetentionDays = 7;   ///< exactly-once ledger rows kept this long
};

/// Writes accepted tasks to the stream. The I/O threads hand tasks over;
/// one thread pipelines every waiting XADD in a single round trip and
/// reports each result through its callback (on that thread).
class Enqueuer {
public:
    using Done = std::function<void(bool stored, const std::string& error)>;
    struct Task {
        std::string type;  ///< request type, for the record
        std::string guid;
        std::string calls; ///< PHP-serialized [key => [name, param]]
        Done done;
    };

    Enqueuer(pools::RedisSettings redis, QueueSettings settings);
    ~Enqueuer();
    void submit(std::vector<Task>& tasks); ///< takes them all (thread-safe)
    void stop();

    std::uint64_t stored() const { return _stored.load(); }
    std::uint64_t refused() const { return _refused.load(); }

private:
    void run();
    bool ensureConnected(std::string& error);

    pools::RedisSettings _redis;
    QueueSettings _settings;
    std::unique_ptr<pools::RedisConnection> _conn;
    std::mutex _mutex;
    std::condition_variable _cv;
    std::vector<Task> _waiting;
    bool _stopping = false;
    std::atomic<std::uint64_t> _stored{0}, _refused{0};
    std::chrono::steady_clock::time_point _nextConnectTry{};
    std::thread _thread;
};

/// Runs tasks from the stream. Thread roles: one fetcher (XREADGROUP,
/// reclaiming, dead-lettering, acknowledging) and the host's task pool for
/// the batches themselves.
class Consumer {
public:
    using RoutesFn = std::function<std::shared_ptr<const plugins::RouteTable>()>;

    Consumer(pools::RedisSettings redis, QueueSettings settings, workers::TaskPool& pool,
             pools::MySqlPool& mysql, RoutesFn routes, unsigned maxBatchesInFlight);
    ~Consumer();
    void start();
    void stop(); ///< finishes batches in flight, acknowledges them

    struct Counters {
        std::uint64_t applied = 0, duplicates = 0, deadLettered = 0, retried = 0, batches = 0;
        std::uint64_t inFlight = 0;
    };
    Counters counters() const;
    /// Stream length, pending entries, dead letters (from Redis; -1 when
    /// unreachable). Uses its own short-lived connection.
    std::map<std::string, std::int64_t> depth() const;

private:
    struct Unit;
    struct Entry;
    struct Done;
    void run();
    bool setup();
    void readEntries(const std::string& fromId, int blockMs, bool& gotAny, std::string* lastId);
    void addEntry(const std::string& id, const redisReply* fields, long long deliveries);
    void flushBatches();
    void runBatch(unsigned worker, const plugins::Route* route,
                  std::shared_ptr<const plugins::RouteTable> table, std::vector<Unit> units);
    std::vector<Done> applyBatch(unsigned worker, const plugins::Route* route,
                                 const std::vector<Unit>& units);
    void settle();
    void retryDue();
    void prune();
    void reclaim();
    void deadLetter(const std::string& entryId, const std::string& reason, const std::string& fields);

    pools::RedisSettings _redis;
    QueueSettings _settings;
    workers::TaskPool& _pool;
    pools::MySqlPool& _mysql;
    RoutesFn _routes;
    const unsigned _maxInFlight;
    const std::string _ledgerPrefix; ///< "<hash of stream>:" before every task id
    std::unique_ptr<pools::RedisConnection> _conn;

    // Entries being worked on, by stream id (fetcher thread only).
    std::map<std::string, std::shared_ptr<Entry>> _entries;
    std::vector<std::shared_ptr<Entry>> _fresh;
    std::map<std::string, std::chrono::steady_clock::time_point> _retryAt;

    // Finished units coming back from workers.
    std::mutex _doneMutex;
    std::condition_variable _doneCv;
    std::vector<Done> _done;
    std::atomic<unsigned> _inFlight{0};

    std::atomic<bool> _stopping{false};
    std::thread _thread;
    mutable std::mutex _countersMutex;
    Counters _counters;
};

/// "<8 hex digits>:" identifying a stream in task ids
/// (`<prefix><entry id>#<call index>`).
std::string ledgerPrefix(const std::string& stream);

/// Creates dora_processed_tasks if it is missing (the exactly-once ledger).
void ensureLedger(pools::MySqlPool& mysql, unsigned slot);

} // namespace dora::queue
