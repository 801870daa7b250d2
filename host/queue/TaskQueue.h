// queue/TaskQueue.h — the durable async path. "Accepted" (100001) means the
// task is in a Redis stream; a consumer group runs it through the plugin in
// batches, one MySQL transaction per batch of entries, and acknowledges
// (XACK + XDEL) only after the commit. Exactly once: each entry's row in
// dora_processed_tasks (which of its calls are applied) is written in the
// same transaction as their effects, so a replay after a crash finds it and
// skips what was applied.
//
// Four parts, one job each:
//   StreamProducer  XADD batching: "accepted" = stored
//   StreamConsumer  XREADGROUP, claims, acks, dead letters (Redis only)
//   Ledger          the dora_processed_tasks SQL
//   BatchRunner     one batch, one transaction, the one retry policy
// and Consumer (below), which drives them: it reads entries, groups them
// into batches of up to batch_size calls, runs the batches on the task pool
// and settles each entry once all its calls are done.
#pragma once

#include "plugins/Plugin.h"
#include "pools/MySqlSessions.h"
#include "protocol/Request.h"
#include "queue/BatchRunner.h"
#include "queue/Ledger.h"
#include "queue/QueueSettings.h"
#include "queue/StreamConsumer.h"
#include "queue/StreamProducer.h"
#include "queue/TaskStatus.h"
#include "stats/EventLog.h"
#include "workers/TaskPool.h"

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace dora::queue {

/// The name the dispatcher and the server know the producer by (they
/// forward-declare it, so it is a class, not an alias).
class Enqueuer : public StreamProducer {
public:
    using StreamProducer::StreamProducer;
};

/// Runs tasks from the stream. Thread roles: one fetch loop (reading,
/// reclaiming, settling through StreamConsumer) and the host's task pool
/// for the batches themselves (BatchRunner).
class Consumer {
public:
    using RoutesFn = std::function<std::shared_ptr<const plugins::RouteTable>()>;

    Consumer(pools::RedisSettings redis, QueueSettings settings, workers::TaskPool& pool,
             pools::MySqlSessions& mysql, RoutesFn routes, unsigned maxBatchesInFlight);
    ~Consumer();
    Consumer(const Consumer&) = delete;
    Consumer& operator=(const Consumer&) = delete;
    void start();
    /// Where dead letters are logged (the host's event log). Set before start.
    void setEventLog(stats::EventLog* log) { _events = log; }
    /// Takes nothing new; runs what it has taken (entries read but not
    /// started too), waits for the batches in flight until `deadline`,
    /// and acknowledges what finished. Entries waiting for a retry stay
    /// pending under this consumer (a restart or another host takes them).
    void stop(std::chrono::steady_clock::time_point deadline);
    void stop() { stop(std::chrono::steady_clock::now() + std::chrono::seconds(30)); }
    /// Entries taken and not acknowledged (after stop: what stays pending).
    std::size_t held() const { return _held.load(); }

    /// Upper bounds of the batch size histogram (tasks per batch); one
    /// more bucket holds larger batches.
    static constexpr std::array<std::uint64_t, 14> kBatchSizeBounds = {1,   2,   4,    8,    16,   32,   64,
                                                                      128, 256, 512, 1024, 2048, 4096, 8192};
    struct Counters {
        std::uint64_t applied = 0, duplicates = 0, deadLettered = 0, retried = 0, batches = 0;
        std::uint64_t inFlight = 0;
        std::array<std::uint64_t, kBatchSizeBounds.size() + 1> batchSizes{}; ///< per bucket
        std::uint64_t batchTasks = 0; ///< tasks in all batches (the histogram's sum)
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
    void take(std::vector<StreamEntry>& entries);
    void addEntry(StreamEntry&& se);
    void flushBatches();
    /// Runs a batch of entries' routed calls in one transaction; the
    /// entries live in _entries until every call of them has settled.
    void runBatch(unsigned worker, std::vector<Entry*> batch);
    void settle();
    /// Appends entry e's applied record (queue/TaskStatus.h: written into
    /// the slot's hash under its guid) to `records`, and its guid and where
    /// the record ends to `ends`; nothing when statuses are off.
    void recordApplied(const Entry& e, std::int64_t atMs, std::string& records,
                       std::vector<std::pair<std::string_view, std::size_t>>& ends,
                       std::vector<AppliedCall>& scratch) const;
    /// Adds entry e's status record (state retrying or dead_lettered) to
    /// `out` as key, JSON; nothing when statuses are off.
    void recordStatus(const Entry& e, const char* state, const std::string& why, int retryInMs,
                      std::vector<std::pair<std::string, std::string>>& out) const;
    void retryDue();
    void prune();

    QueueSettings _settings;
    stats::EventLog* _events = nullptr;
    workers::TaskPool& _pool;
    RoutesFn _routes;
    const unsigned _maxInFlight;
    std::atomic<bool> _stopping{false};
    std::chrono::steady_clock::time_point _stopDeadline;
    std::atomic<std::size_t> _held{0};
    StreamConsumer _stream;
    Ledger _ledger;
    BatchRunner _runner;
    pools::MySqlSessions& _mysql;

    // Tasks being worked on, by task id (fetch loop only).
    std::unordered_map<std::string, std::shared_ptr<Entry>> _entries;
    /// Packed stream entries in hand (queue/Pack.h): requests not yet
    /// settled, and the take() that added them.
    struct Pack {
        std::size_t unsettled = 0;
        std::uint64_t round = 0;
    };
    std::unordered_map<std::string, Pack> _packs;
    std::uint64_t _takeRound = 0;
    std::vector<std::shared_ptr<Entry>> _fresh;
    std::vector<std::string> _unreadable; ///< entries with nothing to run: settle at once
    std::map<std::string, std::chrono::steady_clock::time_point> _retryAt;
    // Scratch of the fetch loop, kept for its capacity.
    std::vector<protocol::CallView> _callViews;
    std::vector<std::size_t> _idEnds;
    std::string _appliedBytes;
    std::vector<AppliedCall> _appliedScratch;

    // Finished units coming back from workers.
    std::mutex _doneMutex;
    std::condition_variable _doneCv;
    std::vector<Done> _done;
    std::atomic<unsigned> _inFlight{0};

    std::thread _thread;
    mutable std::mutex _countersMutex;
    Counters _counters;
};

} // namespace dora::queue
