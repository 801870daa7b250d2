#include "queue/TaskQueue.h"

#include "protocol/Request.h"
#include "queue/TaskStatus.h"

#include <dora/wire/Json.h>

#include "protocol/Codes.h"

#include <dora/sdk/serialize.h>

#include <Poco/Logger.h>

#include <algorithm>

#include <pthread.h>

namespace dora::queue {

using dora::sdk::Value;
using Clock = std::chrono::steady_clock;
namespace code = protocol::code;

namespace {

Poco::Logger& logger() { return Poco::Logger::get("dorahost.queue"); }

/// Failures worth another attempt; anything else a plugin answers is the
/// task's final outcome (e.g. bad parameters) and is dead-lettered at once.
bool retryable(int c) {
    return c == code::kHandlerFailed || c == code::kNoSuchRoute || c == code::kTimeout ||
           c == code::kDatabaseDown;
}

} // namespace

// Every request taken costs the fetch loop a few allocations, not one per
// field: its calls are views into the stored bytes and its task ids views
// into one string (in a 300k-iteration seed, allocating was a third of
// this thread's time, most of it cache misses on the free lists).
struct Consumer::Unit {
    Entry* entry = nullptr; ///< its owner
    std::size_t call = 0; ///< index in its entry
    std::string_view taskId; ///< the call's durable id (call_task_id), in Entry::ids
    std::string_view api;    ///< in the entry's record.calls (or Entry::owned)
    std::string_view params; ///< the same
    std::string key;         ///< the call's key, for its status record
    const plugins::CallMeta* meta = nullptr; ///< its Entry's, which outlives the batch
    const plugins::Route* route = nullptr; ///< resolved when its batch is formed
    int code = 0;           ///< its last outcome
    std::string msg = "OK"; ///< the same
};

struct Consumer::Entry {
    StreamEntry record;
    std::string ledgerKey; ///< its row in the ledger
    std::string ids;       ///< the units' task ids, one after another
    /// The calls, decoded, when the stored bytes are not encodeCalls's
    /// layout (a record written another way); the units view these then.
    std::vector<protocol::Call> owned;
    std::vector<Unit> units;
    std::size_t remaining = 0;
    int attempts = 1;
    plugins::CallMeta meta; ///< what the handlers see: guid, mode, attempt (no peer)
    std::vector<std::string> failures;  ///< final failures (dead letter reasons)
    std::vector<std::string> transient; ///< failures worth a retry
};

/// One call's outcome. Its entry stays in _entries until every call it
/// handed out has come back as a Done (Entry::remaining), so the pointer
/// is valid when settle() reads it.
struct Consumer::Done {
    Entry* entry = nullptr;
    int code = 0;
    std::string msg;
    bool duplicate = false;
    std::size_t call = 0;
};

Consumer::Consumer(pools::RedisSettings redis, QueueSettings settings, workers::TaskPool& pool,
                   pools::MySqlSessions& mysql, RoutesFn routes, unsigned maxBatchesInFlight)
    : _settings(std::move(settings)), _pool(pool), _routes(std::move(routes)),
      _maxInFlight(std::max(1u, maxBatchesInFlight)), _stream(std::move(redis), _settings),
      _ledger(mysql, _settings.stream), _runner(mysql, _ledger, _stopping), _mysql(mysql) {}

Consumer::~Consumer() { stop(); }

void Consumer::start() {
    _thread = std::thread([this] {
        pthread_setname_np(pthread_self(), "dora-consumer");
        run();
    });
}

void Consumer::stop(Clock::time_point deadline) {
    if (!_stopping) _stopDeadline = deadline;
    _stopping = true;
    _doneCv.notify_all();
    if (_thread.joinable()) _thread.join();
}

Consumer::Counters Consumer::counters() const {
    std::lock_guard<std::mutex> lock(_countersMutex);
    Counters c = _counters;
    c.inFlight = _inFlight.load();
    return c;
}

std::map<std::string, std::int64_t> Consumer::depth() const { return _stream.depth(); }

void Consumer::addEntry(StreamEntry&& se) {
    if (se.packSize > 0) {
        // A packed entry is in hand as long as any of its requests is: a
        // re-read (a reconnect, our own XAUTOCLAIM of a long retry) of it
        // adds none of them again, not even those already settled.
        auto [pack, fresh] = _packs.try_emplace(se.streamId, Pack{se.packSize, _takeRound});
        if (!fresh && pack->second.round != _takeRound) return;
    }
    // Already ours and in hand (a retry waiting in _retryAt is in _entries too).
    auto [slot, fresh] = _entries.try_emplace(se.id);
    if (!fresh) return;
    auto e = std::make_shared<Entry>();
    slot->second = e;
    e->record = std::move(se);
    // Taken over (or re-read after a restart): count on from the attempts
    // already made, so call_attempt and max_retries see them.
    e->attempts = 1 + e->record.prior;
    e->meta.attempt = static_cast<std::uint32_t>(e->attempts);
    const std::string& id = e->record.id;
    e->ledgerKey = _ledger.entryKey(e->record.taskBase()); // a redriven task keeps its row
    e->meta.guid = e->record.guid;
    const std::string& type = e->record.type;
    e->meta.mode = plugins::sdkMode(type == "SRM" || type == "AN_M" ? protocol::Mode::AsyncMulti
                                                                  : protocol::Mode::AsyncSingle);
    e->meta.generation = plugins::sdkGeneration(type.rfind("AN_", 0) == 0 ? protocol::Generation::V2
                                                                          : protocol::Generation::V1);
    // The calls' params pass to the plugins as the bytes stored, undecoded.
    std::vector<protocol::CallView>& calls = _callViews;
    std::string error;
    bool readable = e->record.error.empty();
    if (!readable) {
        e->failures.push_back(e->record.error);
    } else if (!protocol::decodeCallViews(e->record.calls, calls)) {
        if (!protocol::decodeCalls(e->record.calls, e->owned, error)) {
            e->failures.push_back("task record is unreadable: " + error);
            readable = false;
        } else {
            calls.clear();
            for (const auto& c : e->owned)
                calls.push_back(protocol::CallView{c.key, c.api, c.params});
        }
    }
    if (readable && calls.empty()) e->failures.push_back("task record has no calls");
    if (readable && !calls.empty()) {
        // Task ids (Ledger::taskId of the ledger key: a redriven task
        // keeps its ids), all in one string.
        std::vector<std::size_t>& ends = _idEnds;
        ends.clear();
        e->ids.reserve(calls.size() * (e->ledgerKey.size() + 4));
        for (std::size_t i = 0; i < calls.size(); ++i) {
            Ledger::appendTaskId(e->ids, e->ledgerKey, i);
            ends.push_back(e->ids.size());
        }
        const std::string_view ids = e->ids;
        e->units.resize(calls.size());
        for (std::size_t i = 0; i < calls.size(); ++i) {
            Unit& u = e->units[i];
            u.entry = e.get();
            u.call = i;
            const std::size_t from = i == 0 ? 0 : ends[i - 1];
            u.taskId = ids.substr(from, ends[i] - from);
            u.key = calls[i].key.toString();
            u.api = calls[i].api;
            u.params = calls[i].params;
            u.meta = &e->meta;
        }
    }
    if (!e->failures.empty() && e->units.empty()) _unreadable.push_back(id);
    _fresh.push_back(std::move(e));
}

void Consumer::take(std::vector<StreamEntry>& entries) {
    ++_takeRound;
    for (auto& se : entries)
        addEntry(std::move(se));
    entries.clear();
}

void Consumer::flushBatches() {
    if (_fresh.empty()) return;
    auto table = _routes();
    // Batches of whole entries, in arrival order, of up to batch_size
    // calls (an entry with more calls is a batch of its own): one
    // transaction and one ledger row per entry, whatever routes its calls
    // take.
    const auto size = static_cast<std::size_t>(std::max(1, _settings.batchSize));
    std::vector<Done> unrouted;
    std::vector<Entry*> batch;
    std::size_t calls = 0;
    auto submit = [&] {
        if (batch.empty()) return;
        ++_inFlight;
        // The table keeps the plugins loaded while the batch runs.
        workers::TaskPool::Job job = [this, table, entries = std::move(batch)](unsigned w) mutable {
            runBatch(w, std::move(entries));
        };
        batch.clear();
        calls = 0;
        // The pool may be full of synchronous calls: wait for room rather
        // than drop anything (backpressure on the fetch loop only).
        while (!_pool.submit(job))
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
    };
    for (auto& e : _fresh) {
        e->remaining = 0;
        e->transient.clear();
        if (!e->failures.empty()) continue; // settled below without running
        std::size_t routed = 0;
        for (auto& u : e->units) {
            u.route = table ? table->find(u.api, true) : nullptr;
            if (!u.route) {
                // Retryable: a reload may bring the route back.
                unrouted.push_back(Done{e.get(), code::kNoSuchRoute,
                                        "no async route for '" + std::string(u.api) + "'", false, u.call});
            } else {
                ++routed;
            }
            ++e->remaining;
        }
        if (routed == 0) continue;
        if (calls > 0 && calls + routed > size) submit();
        batch.push_back(e.get());
        calls += routed;
        if (calls >= size) submit();
    }
    _fresh.clear();
    if (!unrouted.empty()) {
        std::lock_guard<std::mutex> lock(_doneMutex);
        for (auto& d : unrouted)
            _done.push_back(std::move(d));
    }
    submit();
}

void Consumer::runBatch(unsigned w, std::vector<Entry*> batch) {
    std::vector<BatchEntry> entries;
    entries.reserve(batch.size());
    std::size_t tasks = 0;
    for (const Entry* e : batch) {
        BatchEntry be;
        be.key = e->ledgerKey;
        be.calls = e->units.size();
        be.replay = e->record.redelivered || !e->record.origin.empty() || e->attempts > 1;
        be.tasks.reserve(e->units.size());
        for (const Unit& u : e->units)
            if (u.route) be.tasks.push_back(BatchTask{u.route, u.api, u.params, u.taskId, u.meta, u.call});
        tasks += be.tasks.size();
        entries.push_back(std::move(be));
    }
    std::vector<std::vector<TaskResult>> results;
    _runner.run(w, entries, results);
    {
        std::lock_guard<std::mutex> lock(_doneMutex);
        for (std::size_t i = 0; i < batch.size(); ++i)
            for (std::size_t t = 0; t < entries[i].tasks.size(); ++t) {
                TaskResult& r = results[i][t];
                _done.push_back(Done{batch[i], r.code, std::move(r.msg), r.duplicate, entries[i].tasks[t].call});
            }
    }
    {
        std::lock_guard<std::mutex> lock(_countersMutex);
        ++_counters.batches;
        std::size_t b = 0;
        while (b < kBatchSizeBounds.size() && tasks > kBatchSizeBounds[b]) ++b;
        ++_counters.batchSizes[b];
        _counters.batchTasks += tasks;
    }
    --_inFlight;
    _doneCv.notify_all();
}

void Consumer::recordApplied(const Entry& e, std::int64_t atMs, std::string& records,
                             std::vector<std::pair<std::string_view, std::size_t>>& ends,
                             std::vector<AppliedCall>& scratch) const {
    if (_settings.statusTtlSec <= 0 || e.record.guid.empty()) return;
    scratch.clear();
    for (const Unit& u : e.units)
        scratch.push_back(AppliedCall{u.key, u.api, u.msg, u.code});
    appendAppliedRecord(records, e.record.id, _settings.consumer, atMs, e.attempts, scratch);
    ends.emplace_back(e.record.guid, records.size());
}

void Consumer::recordStatus(const Entry& e, const char* state, const std::string& why, int retryInMs,
                            std::vector<std::pair<std::string, std::string>>& out) const {
    if (_settings.statusTtlSec <= 0 || e.record.guid.empty()) return;
    Value r = Value::array();
    r.set("state", state);
    r.set("entry", e.record.id);
    r.set("node", _settings.consumer);
    r.set("at", unixMs());
    r.set("attempts", static_cast<std::int64_t>(e.attempts - (std::string_view(state) == "retrying" ? 1 : 0)));
    if (std::string_view(state) == "retrying") {
        r.set("last_error", why);
        r.set("retry_in_ms", static_cast<std::int64_t>(retryInMs));
    } else if (std::string_view(state) == "dead_lettered") {
        r.set("reason", why);
    }
    Value calls = Value::array();
    for (const Unit& u : e.units) {
        Value c = Value::array();
        c.set("key", u.key);
        c.set("api", std::string(u.api));
        c.set("code", static_cast<std::int64_t>(u.code));
        c.set("msg", u.msg);
        calls.push(std::move(c));
    }
    r.set("calls", std::move(calls));
    out.emplace_back(statusKey(_settings.stream, e.record.guid), dora::wire::toJson(r));
}

void Consumer::settle() {
    std::vector<Done> done;
    {
        std::lock_guard<std::mutex> lock(_doneMutex);
        done.swap(_done);
    }
    // Entries that had nothing to run (unreadable) settle immediately.
    std::vector<Entry*> finished;
    for (const auto& id : _unreadable)
        if (auto it = _entries.find(id); it != _entries.end()) finished.push_back(it->second.get());
    _unreadable.clear();
    Counters add;
    for (auto& d : done) {
        Entry& e = *d.entry;
        if (d.call < e.units.size()) {
            Unit& u = e.units[d.call];
            u.code = d.code;
            if (d.duplicate)
                u.msg = "applied earlier (a replay, skipped)";
            else if (d.code == 0)
                u.msg = "OK";
            else
                u.msg = d.msg; // a failure (rare): d.msg is used below too
        }
        if (d.duplicate) {
            ++add.duplicates;
        } else if (d.code == 0) {
            ++add.applied;
        } else if (retryable(d.code)) {
            e.transient.push_back(std::to_string(d.code) + " " + d.msg);
        } else {
            e.failures.push_back(std::to_string(d.code) + " " + d.msg);
        }
        if (e.remaining > 0 && --e.remaining == 0) finished.push_back(&e);
    }
    std::vector<std::string_view> ack; // stream entries (their ids live in the entries)
    std::vector<Entry*> settled;
    std::vector<DeadLetter> dead;
    std::vector<std::pair<std::string, std::string>> status; // key, record (retrying, dead_lettered)
    // Applied records (guid, record), one after another in _appliedBytes.
    std::vector<std::pair<std::string_view, std::size_t>> appliedEnds;
    _appliedBytes.clear();
    const std::int64_t now = unixMs();
    for (Entry* ep : finished) {
        Entry& e = *ep;
        const std::string& id = e.record.id;
        if (!e.transient.empty() && e.failures.empty() && e.attempts <= _settings.maxRetries) {
            // Try again later, in this process; the entry stays pending.
            int delay = _settings.retryBackoffMs << std::min(e.attempts - 1, 16);
            ++e.attempts;
            e.meta.attempt = static_cast<std::uint32_t>(e.attempts); // no batch of it runs now
            ++add.retried;
            _retryAt[id] = Clock::now() + std::chrono::milliseconds(delay);
            logger().information("task %s failed (%s); retry %d in %d ms", id, e.transient.front(),
                                 e.attempts - 1, delay);
            recordStatus(e, "retrying", e.transient.front(), delay, status);
            continue;
        }
        if (!e.failures.empty() || !e.transient.empty()) {
            std::string reason = !e.failures.empty()
                                     ? e.failures.front()
                                     : "gave up after " + std::to_string(e.attempts) +
                                           " attempts: " + e.transient.front();
            if (!_events) {
                logger().warning("task %s moved to %s: %s", id, _settings.deadLetterStream, reason);
            } else {
                // The call that failed for good (or the first, for an unreadable record).
                std::size_t k = 0;
                while (k < e.units.size() && e.units[k].code == 0) ++k;
                const int c = k < e.units.size() ? e.units[k].code : code::kHandlerFailed;
                _events->event(stats::EventLog::Kind::DeadLetter, e.record.guid,
                               k < e.units.size() ? std::string_view(e.units[k].api) : std::string_view(), c, {},
                               "task " + id + " moved to " + _settings.deadLetterStream + ": " + reason,
                               _settings.consumer);
            }
            recordStatus(e, "dead_lettered", reason, 0, status);
            dead.push_back(DeadLetter{&e.record, std::move(reason)});
            ++add.deadLettered;
        } else {
            recordApplied(e, now, _appliedBytes, appliedEnds, _appliedScratch);
        }
        settled.push_back(&e);
        if (e.record.packSize == 0) {
            ack.push_back(id);
        } else if (auto p = _packs.find(e.record.streamId); p != _packs.end() && --p->second.unsettled == 0) {
            // The last of a packed entry's requests: the entry goes.
            ack.push_back(e.record.streamId);
            _packs.erase(p);
        }
    }
    std::vector<std::pair<std::string_view, std::string_view>> applied;
    applied.reserve(appliedEnds.size());
    const std::string_view records = _appliedBytes;
    for (std::size_t i = 0; i < appliedEnds.size(); ++i) {
        const std::size_t from = i == 0 ? 0 : appliedEnds[i - 1].second;
        applied.emplace_back(appliedEnds[i].first, records.substr(from, appliedEnds[i].second - from));
    }
    if (!dead.empty() || !ack.empty() || !status.empty() || !applied.empty()) {
        if (!_stream.settle(dead, ack, status, applied))
            logger().warning(
                "acknowledging tasks failed; they will be replayed and skipped as duplicates");
    }
    // Erased through an iterator: the key looked up lives in the entry.
    for (Entry* e : settled)
        if (auto it = _entries.find(e->record.id); it != _entries.end()) _entries.erase(it);
    std::lock_guard<std::mutex> lock(_countersMutex);
    _counters.applied += add.applied;
    _counters.duplicates += add.duplicates;
    _counters.deadLettered += add.deadLettered;
    _counters.retried += add.retried;
}

void Consumer::retryDue() {
    auto now = Clock::now();
    for (auto it = _retryAt.begin(); it != _retryAt.end();) {
        if (it->second > now) {
            ++it;
            continue;
        }
        auto e = _entries.find(it->first);
        if (e != _entries.end()) _fresh.push_back(e->second);
        it = _retryAt.erase(it);
    }
}

void Consumer::prune() {
    // A task can only be replayed while its entry is still pending in the
    // stream; ledger rows far older than that are dead weight. Runs on a
    // worker (it needs a MySQL connection), in small slices.
    int days = _settings.ledgerRetentionDays;
    _pool.submit([this, days](unsigned w) {
        pools::SqlFailure f;
        std::uint64_t removed = 0;
        if (!_ledger.prune(w, days, removed, f))
            logger().warning("pruning the task ledger failed: %s", f.message);
        else if (removed > 0)
            logger().information("pruned " + std::to_string(removed) + " ledger rows older than " +
                                 std::to_string(days) + " days");
    });
}

void Consumer::run() {
    while (!_stopping && !_stream.setup())
        std::this_thread::sleep_for(std::chrono::seconds(1));
    if (_stopping) return;
    // First what this consumer left pending (a restart after a crash).
    std::string last = "0";
    bool first = true;
    auto lastReclaim = Clock::now();
    auto lastPrune = Clock::now() - std::chrono::minutes(9); // first prune a minute after start
    // Entries per read: enough for every batch in flight; packed entries
    // hold up to tasks_per_entry requests each.
    const std::size_t readCount =
        std::max<std::size_t>(8, static_cast<std::size_t>(std::max(1, _settings.batchSize)) *
                                     static_cast<std::size_t>(_maxInFlight) /
                                     static_cast<std::size_t>(std::max(1, _settings.tasksPerEntry)));
    std::vector<StreamEntry> read;
    while (!_stopping) {
        if (!_stream.connected()) {
            if (!_stream.setup()) {
                std::this_thread::sleep_for(std::chrono::milliseconds(500));
                continue;
            }
            first = true; // re-read our pending list after a reconnect
            last = "0";
        }
        settle();
        retryDue();
        if (Clock::now() - lastReclaim > std::chrono::seconds(1)) {
            lastReclaim = Clock::now();
            // A dead host may have held thousands: claim until a round
            // comes back short (bounded, so the loop keeps settling).
            const auto count = static_cast<std::size_t>(std::max(1, _settings.batchSize));
            std::size_t claimed = 0, got = count;
            for (int round = 0; round < 8 && got == count && !_stopping; ++round) {
                _stream.claimIdle(count, read);
                got = read.size();
                for (auto& se : read)
                    if (!_entries.count(se.id)) ++claimed;
                take(read);
            }
            if (claimed > 0)
                logger().information("took over %z task(s) from an idle consumer (held longer than "
                                     "queue.claim_idle_ms %d)",
                                     claimed, _settings.claimIdleMs);
        }
        if (Clock::now() - lastPrune > std::chrono::minutes(10)) {
            lastPrune = Clock::now();
            prune();
        }
        flushBatches();
        if (_inFlight >= _maxInFlight) {
            std::unique_lock<std::mutex> lock(_doneMutex);
            _doneCv.wait_for(lock, std::chrono::milliseconds(50),
                             [&] { return !_done.empty() || _stopping; });
            continue;
        }
        bool got = false;
        if (first) {
            std::string prev = last;
            _stream.read(last, readCount, 0, read, &last);
            got = last != prev;
            take(read);
            if (!got) {
                first = false;
                last = "0";
            }
        } else {
            _stream.read(">", readCount, _inFlight > 0 || !_entries.empty() ? 0 : 200, read);
            got = !read.empty();
            take(read);
            std::size_t freshCalls = 0; // batch_size counts calls, not entries
            for (const auto& e : _fresh)
                freshCalls += e->units.size();
            if (got && _settings.batchLatencyMs > 0 &&
                freshCalls < static_cast<std::size_t>(_settings.batchSize)) {
                // Give a trickle a moment to become a batch.
                std::this_thread::sleep_for(std::chrono::milliseconds(_settings.batchLatencyMs));
                _stream.read(">", readCount, 0, read);
                take(read);
            }
        }
        if (!got && _inFlight > 0) {
            std::unique_lock<std::mutex> lock(_doneMutex);
            _doneCv.wait_for(lock, std::chrono::milliseconds(5),
                             [&] { return !_done.empty() || _stopping; });
        } else if (!got && !_retryAt.empty()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
    // Stopping: run what was taken but not started, let the batches in
    // flight finish, and acknowledge them.
    settle();
    flushBatches();
    while (_inFlight > 0 && Clock::now() < _stopDeadline) {
        std::unique_lock<std::mutex> lock(_doneMutex);
        _doneCv.wait_for(lock, std::chrono::milliseconds(10), [&] { return _inFlight == 0; });
    }
    if (_stream.connected()) settle();
    _held = _entries.size();
    if (!_entries.empty())
        logger().warning("stopping with %z task(s) not finished; they stay pending under consumer "
                         "'%s' for a restart of this node or another host to take over",
                         _entries.size(), _settings.consumer);
}

} // namespace dora::queue
