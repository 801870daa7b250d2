// queue/TaskStatus.h — what became of an async request, by its guid, on any
// host of the cluster and after its client has gone. Cheap enough to be on
// by default: the accept path writes nothing, and the consumer writes one
// hash field per request, a settle's worth in one HSET riding in the round
// trip of that settle's XACK/XDEL.
//   * queued is not written: the stream holds exactly the entries not yet
//     settled (each is deleted once acknowledged), so a reader that finds
//     no record scans it for the guid (kStatusScanMax entries at most);
//   * running is not written either: a queued entry in the group's pending
//     list is running, on the node it was delivered to;
//   * applied: `guid -> record` in the hash `<stream>:status:a:<slot>`;
//   * retrying and dead_lettered (rare, and the ones an operator reads for
//     their detail) are a key of their own, `<stream>:status:<guid>`, a JSON
//     record with SET EX queue.status_ttl_sec, in the same settle round trip;
//     a redriven letter's "queued" record too (queue/DeadLetters.cpp).
// A slot is statusSlotSec(ttl) seconds of wall-clock time; its hash expires
// ttl + one slot after its first write (EXPIRE NX), so an applied record
// lives at least ttl and at most ttl + two slots. A reader probes every
// slot of that window (one pipelined round trip) and takes the newest
// outcome of the key record and the applied field.
#pragma once

#include "pools/RedisSettings.h"
#include "queue/QueueSettings.h"

#include <dora/sdk/value.h>

#include <cstdint>
#include <string>
#include <string_view>
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

/// A queued task is found by scanning the stream for its guid: at most
/// this many entries (then the answer says so).
inline constexpr std::int64_t kStatusScanMax = 200000;

/// Seconds of wall-clock time one status hash covers: at least 10, and at
/// most ~360 slots for the whole ttl (what a reader probes).
int statusSlotSec(int ttlSec);
/// The hash of kind 'a' (applied) for the slot of Unix time `unixSec`.
std::string statusHashKey(const std::string& stream, char kind, std::int64_t unixSec, int ttlSec);
/// EXPIRE seconds for a status hash: ttl + one slot.
std::string statusHashTtl(int ttlSec);

/// The record of an applied request, one field of a status hash for each
/// async request, so it is kept small: '~' and then, each written as
/// <length>:<bytes> (queue/Pack.h), its entry, node, at (ms), attempts and
/// per call its key, api, code and message (empty for "OK"). About 110
/// bytes for a seed request of three calls, against 265 as JSON.
/// appliedStatus() turns it into the status answer's fields.
struct AppliedCall {
    std::string_view key, api, msg;
    int code = 0;
};
std::string appliedRecord(std::string_view entry, std::string_view node, std::int64_t atMs, int attempts,
                          const std::vector<AppliedCall>& calls);
/// The same record appended to `out`.
void appendAppliedRecord(std::string& out, std::string_view entry, std::string_view node, std::int64_t atMs,
                         int attempts, const std::vector<AppliedCall>& calls);

/// A record from a status hash as the status answer's fields (state
/// "applied", entry, node, at, attempts, calls [key, api, code, msg]):
/// the compact record above, or JSON (as hosts before it wrote them).
/// Throws std::runtime_error when it is neither.
dora::sdk::Value appliedStatus(std::string_view record);

/// The answer of taskStatus: the newest of the guid's key record and its
/// applied field, else its entry in the stream (queued), and for a queued
/// one the group's pending list (running). Throws std::runtime_error when
/// Redis cannot be reached; returns null when no record exists.
dora::sdk::Value readTaskStatus(const pools::RedisSettings& redis, const QueueSettings& settings,
                                std::string_view guid);

} // namespace dora::queue
