// queue/StreamConsumer.h — the consuming side of the stream, Redis only:
// the consumer group, reading new and pending entries, taking over entries
// idle consumers left, and settling finished ones (dead letters, then XACK
// and XDEL, in one round trip). Knows nothing of MySQL or plugins.
#pragma once

#include "pools/RedisSettings.h"
#include "queue/QueueSettings.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dora::pools {
class RedisConnection;
}

namespace dora::queue {

/// One accepted request: a stream entry, or one request of a packed entry
/// (queue/Pack.h).
struct StreamEntry {
    /// The task's id: its stream entry's id, or "<entry id>/<index>" for a
    /// packed request.
    std::string id;
    /// A packed request's stream entry id (empty otherwise) and how many
    /// requests that entry holds.
    std::string streamId;
    std::size_t packSize = 0;
    /// Why the entry cannot be run (a malformed pack); empty when readable.
    std::string error;
    std::string type, guid, calls; ///< the fields StreamProducer wrote
    /// A redriven dead letter: the entry id the task was first stored
    /// under, which its ledger ids keep (so it is still applied at most
    /// once). Empty for a task stored once.
    std::string origin;
    /// Attempts made before this consumer took the entry (another host
    /// that died, or this node before a restart): the larger of the
    /// earlier deliveries and a "retrying" status record's attempts.
    /// 0 for an entry read new.
    int prior = 0;
    /// Taken from a pending list (a restart, a takeover) rather than read
    /// new: its calls may have been applied before, in part.
    bool redelivered = false;
    const std::string& taskBase() const { return origin.empty() ? id : origin; }
    /// The stream entry to acknowledge, claim or look up.
    const std::string& entryId() const { return streamId.empty() ? id : streamId; }
};

/// An entry given up on: copied to the dead-letter stream with its reason.
struct DeadLetter {
    const StreamEntry* entry = nullptr;
    std::string reason;
};

/// Not thread-safe: one thread (the queue's fetch loop) owns it.
class StreamConsumer {
public:
    StreamConsumer(pools::RedisSettings redis, QueueSettings settings);
    ~StreamConsumer();
    StreamConsumer(const StreamConsumer&) = delete;
    StreamConsumer& operator=(const StreamConsumer&) = delete;

    /// Connects if needed and creates the group (from id 0, so tasks stored
    /// before any consumer existed run too). False while Redis is away or
    /// refuses (e.g. LOADING); then the connection is dropped, so the next
    /// setup() starts afresh and re-reads this consumer's pending list.
    bool setup();
    bool connected() const;

    /// XREADGROUP of up to count entries from fromId ("0": our pending
    /// list, ">": new ones), waiting up to blockMs (0: not at all). Entries
    /// go to out; a pending entry already deleted (only its XACK was lost)
    /// is acknowledged here. lastId receives the last id read.
    void read(const std::string& fromId, std::size_t count, int blockMs,
              std::vector<StreamEntry>& out, std::string* lastId = nullptr);

    /// XAUTOCLAIM: entries idle longer than claimIdleMs in other consumers'
    /// pending lists become ours.
    void claimIdle(std::size_t count, std::vector<StreamEntry>& out);

    /// Appends the dead letters, then XACK + XDEL of ack, then the status
    /// records (key, JSON; SET with queue.status_ttl_sec) and the applied
    /// records (guid, JSON; one HSET into the slot's hash, queue/TaskStatus.h),
    /// and reads every reply: one round trip. False if Redis refused any of
    /// it (the entries are then replayed later and skipped as duplicates).
    bool settle(const std::vector<DeadLetter>& dead, const std::vector<std::string_view>& ack,
                const std::vector<std::pair<std::string, std::string>>& status = {},
                const std::vector<std::pair<std::string_view, std::string_view>>& applied = {});

    /// Stream length, pending entries, dead letters (-1 when unreachable),
    /// on a short-lived connection of its own: callable from any thread.
    std::map<std::string, std::int64_t> depth() const;

private:
    /// Sets `prior` of out[from..]: entries taken from a pending list.
    void annotatePrior(std::vector<StreamEntry>& out, std::size_t from);

    pools::RedisSettings _redis;
    QueueSettings _settings;
    std::unique_ptr<pools::RedisConnection> _conn;
};

} // namespace dora::queue
