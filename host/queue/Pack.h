// queue/Pack.h — several accepted requests in one stream entry.
//
// The producer writes every request it has in hand in one XADD round; with
// queue.tasks_per_entry above 1 it packs up to that many of them into one
// entry (field "pack"), so the stream, the consumer group's pending list
// and the AOF see one entry, one delivery and one acknowledgement for the
// lot instead of one each. A lone request keeps the one-request layout
// (fields type, guid, calls), which every version reads.
//
// The "pack" value: per request, its type, guid and calls, each as
// <decimal length> ':' <bytes>, back to back. Inside the consumer each
// packed request is a task of its own, with the id "<entry id>/<index>"
// (its ledger row, call ids, status records and dead letter use it); the
// entry is acknowledged once all of its requests are settled.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dora::queue {

struct PackedTask {
    std::string type, guid, calls;
};

/// Appends v as <decimal length>:<bytes> (the pack's and the applied
/// record's field encoding).
void appendField(std::string& out, std::string_view v);

/// Reads one such field at `at` into out, moving `at` past it; false if
/// there is none there.
bool takeField(std::string_view in, std::size_t& at, std::string& out);

/// Appends one request to a pack value.
void appendPacked(std::string& pack, std::string_view type, std::string_view guid, std::string_view calls);

/// Splits a pack value; false (and a reason in `error`) if it is not one.
bool unpack(std::string_view pack, std::vector<PackedTask>& out, std::string& error);

/// The task id of request `index` of stream entry `entryId`.
std::string packedId(std::string_view entryId, std::size_t index);

/// The stream entry id a task id belongs to (itself for an unpacked one).
std::string_view streamIdOf(std::string_view taskId);

} // namespace dora::queue
