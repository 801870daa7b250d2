#include "queue/TaskQueue.h"

#include "plugins/HostApi.h"
#include "protocol/Codes.h"

#include <dora/sdk/serialize.h>

#include <Poco/Logger.h>

#include <algorithm>
#include <chrono>
#include <set>

namespace dora::queue {

using dora::sdk::Value;
using pools::Reply;
using Clock = std::chrono::steady_clock;
namespace code = protocol::code;

namespace {

Poco::Logger& logger() { return Poco::Logger::get("dorahost.queue"); }

bool isError(const redisReply* r) { return !r || r->type == REDIS_REPLY_ERROR; }

std::string str(const redisReply* r) {
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) ? std::string(r->str, r->len)
                                                                                 : std::string();
}

/// Failures worth another attempt; anything else a plugin answers is the
/// task's final outcome (e.g. bad parameters) and is dead-lettered at once.
bool retryable(int c) {
    return c == code::kHandlerFailed || c == code::kNoSuchRoute || c == code::kTimeout ||
           c == code::kDatabaseDown;
}

std::string placeholders(std::size_t n) {
    std::string s;
    s.reserve(n * 2);
    for (std::size_t i = 0; i < n; ++i) s += i ? ",?" : "?";
    return s;
}

} // namespace

void ensureLedger(pools::MySqlPool& mysql, unsigned slot) {
    pools::SqlFailure f;
    pools::ExecResult r;
    if (!mysql.exec(slot,
                    "CREATE TABLE IF NOT EXISTS dora_processed_tasks ("
                    " task_id VARBINARY(80) NOT NULL PRIMARY KEY,"
                    " processed_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP"
                    ") ENGINE=InnoDB",
                    Value(), r, f))
        throw std::runtime_error("cannot create the dora_processed_tasks ledger: " + f.message);
}

// ------------------------------------------------------------ Enqueuer

Enqueuer::Enqueuer(pools::RedisSettings redis, QueueSettings settings)
    : _redis(std::move(redis)), _settings(std::move(settings)) {
    _thread = std::thread([this] { run(); });
}

Enqueuer::~Enqueuer() { stop(); }

void Enqueuer::submit(std::vector<Task>& tasks) {
    if (tasks.empty()) return;
    {
        std::lock_guard<std::mutex> lock(_mutex);
        for (auto& t : tasks) _waiting.push_back(std::move(t));
    }
    tasks.clear();
    _cv.notify_one();
}

void Enqueuer::stop() {
    {
        std::lock_guard<std::mutex> lock(_mutex);
        if (_stopping) return;
        _stopping = true;
    }
    _cv.notify_one();
    if (_thread.joinable()) _thread.join();
}

bool Enqueuer::ensureConnected(std::string& error) {
    if (_conn && !_conn->broken()) return true;
    _conn.reset();
    // Do not hammer a Redis that is down: one attempt per 200 ms; calls in
    // between are refused at once with the last error.
    auto now = Clock::now();
    static thread_local std::string lastError;
    if (now < _nextConnectTry) {
        error = lastError;
        return false;
    }
    try {
        _conn = std::make_unique<pools::RedisConnection>(_redis);
        return true;
    } catch (const std::exception& e) {
        lastError = e.what();
        error = lastError;
        _nextConnectTry = now + std::chrono::milliseconds(200);
        return false;
    }
}

void Enqueuer::run() {
    std::vector<Task> batch;
    for (;;) {
        {
            std::unique_lock<std::mutex> lock(_mutex);
            _cv.wait(lock, [&] { return _stopping || !_waiting.empty(); });
            if (_waiting.empty() && _stopping) return;
            batch.swap(_waiting);
        }
        std::string error;
        bool ok = ensureConnected(error);
        std::vector<bool> stored(batch.size(), false);
        if (ok) {
            for (auto& t : batch)
                _conn->append({"XADD", _settings.stream, "*", "type", t.type, "guid", t.guid, "calls", t.calls});
            for (std::size_t i = 0; i < batch.size(); ++i) {
                Reply r = _conn->reply();
                if (!r) {
                    // The commands went out: Redis may have stored them
                    // before it went away. Say so instead of a plain refusal.
                    error = "Redis connection lost after the task was sent (" + _conn->error() +
                            "); it may have been stored: outcome unknown";
                    break;
                }
                if (r->type == REDIS_REPLY_STRING)
                    stored[i] = true;
                else
                    error = "Redis refused the task: " + pools::replyText(r.get());
            }
        }
        for (std::size_t i = 0; i < batch.size(); ++i) {
            if (stored[i])
                ++_stored;
            else
                ++_refused;
            batch[i].done(stored[i], stored[i] ? std::string() : error);
        }
        if (!error.empty()) logger().warning("async tasks refused: %s", error);
        batch.clear();
    }
}

// ------------------------------------------------------------ Consumer

struct Consumer::Unit {
    std::string entryId;
    std::size_t index = 0;
    std::string taskId; ///< entryId#index: the exactly-once key
    std::string api;
    std::string params;
};

struct Consumer::Entry {
    std::string id;
    std::string type, guid, callsRaw;
    std::vector<Unit> units;
    std::size_t remaining = 0;
    int attempts = 1;
    bool retry = false;
    std::vector<std::string> failures; ///< final failures (dead letter reasons)
    std::vector<std::string> transient;
};

struct Consumer::Done {
    std::string entryId;
    int code = 0;
    std::string msg;
    bool duplicate = false;
};

Consumer::Consumer(pools::RedisSettings redis, QueueSettings settings, workers::TaskPool& pool,
                   pools::MySqlPool& mysql, RoutesFn routes, unsigned maxBatchesInFlight)
    : _redis(std::move(redis)), _settings(std::move(settings)), _pool(pool), _mysql(mysql),
      _routes(std::move(routes)), _maxInFlight(std::max(1u, maxBatchesInFlight)),
      _ledgerPrefix(ledgerPrefix(_settings.stream)) {}

std::string ledgerPrefix(const std::string& stream) {
    // Entry ids are unique only within one stream: two streams (two
    // clusters, or test suites) sharing a database must not see each
    // other's tasks as duplicates. 8 hex digits of the stream name's
    // FNV-1a hash keep the key short.
    std::uint32_t h = 2166136261u;
    for (unsigned char c : stream) {
        h ^= c;
        h *= 16777619u;
    }
    static const char* hex = "0123456789abcdef";
    std::string p(9, ':');
    for (int i = 7; i >= 0; --i, h >>= 4) p[static_cast<std::size_t>(i)] = hex[h & 15];
    return p;
}

Consumer::~Consumer() { stop(); }

void Consumer::start() {
    _thread = std::thread([this] { run(); });
}

void Consumer::stop() {
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

std::map<std::string, std::int64_t> Consumer::depth() const {
    std::map<std::string, std::int64_t> d{{"stream_length", -1}, {"pending", -1}, {"dead_letters", -1}};
    try {
        pools::RedisSettings s = _redis;
        s.commandTimeoutMs = 500;
        pools::RedisConnection c(s);
        if (Reply r = c.command({"XLEN", _settings.stream}); r && r->type == REDIS_REPLY_INTEGER)
            d["stream_length"] = r->integer;
        if (Reply r = c.command({"XPENDING", _settings.stream, _settings.group});
            r && r->type == REDIS_REPLY_ARRAY && r->elements > 0 && r->element[0]->type == REDIS_REPLY_INTEGER)
            d["pending"] = r->element[0]->integer;
        if (Reply r = c.command({"XLEN", _settings.deadLetterStream}); r && r->type == REDIS_REPLY_INTEGER)
            d["dead_letters"] = r->integer;
    } catch (const std::exception&) {
    }
    return d;
}

bool Consumer::setup() {
    try {
        if (!_conn || _conn->broken()) _conn = std::make_unique<pools::RedisConnection>(_redis);
    } catch (const std::exception& e) {
        logger().warning("queue consumer waiting for Redis: %s", std::string(e.what()));
        _conn.reset();
        return false;
    }
    // From id 0: tasks stored before any consumer existed are run too.
    Reply r = _conn->command({"XGROUP", "CREATE", _settings.stream, _settings.group, "0", "MKSTREAM"});
    if (!r) return false;
    if (r->type == REDIS_REPLY_ERROR && str(r.get()).find("BUSYGROUP") == std::string::npos &&
        std::string(r->str, r->len).find("BUSYGROUP") == std::string::npos) {
        logger().error("cannot create consumer group: %s", pools::replyText(r.get()));
        // E.g. LOADING after a Redis restart. Drop the connection so the
        // next try runs setup() again and then re-reads our pending list;
        // kept, it would look healthy and those entries would wait for
        // XAUTOCLAIM (claimIdleMs).
        _conn.reset();
        return false;
    }
    return true;
}

void Consumer::addEntry(const std::string& id, const redisReply* fields, long long) {
    if (_entries.count(id) || _retryAt.count(id)) return; // already ours and in hand
    auto e = std::make_shared<Entry>();
    e->id = id;
    if (fields && fields->type == REDIS_REPLY_ARRAY) {
        for (std::size_t i = 0; i + 1 < fields->elements; i += 2) {
            std::string k = str(fields->element[i]), v = str(fields->element[i + 1]);
            if (k == "type") e->type = v;
            else if (k == "guid") e->guid = v;
            else if (k == "calls") e->callsRaw = v;
        }
    }
    Value calls;
    try {
        calls = dora::sdk::unserialize(e->callsRaw);
    } catch (const std::exception& ex) {
        e->failures.push_back(std::string("task record is unreadable: ") + ex.what());
    }
    if (calls.isArray()) {
        std::size_t i = 0;
        for (const auto& c : calls.asArray()) {
            Unit u;
            u.entryId = id;
            u.index = i;
            u.taskId = _ledgerPrefix + id + "#" + std::to_string(i);
            ++i;
            const Value* name = c.value.find("name");
            u.api = name && name->isString() ? name->asString() : std::string();
            const Value* p = c.value.find("param");
            if (p) dora::sdk::serializeTo(u.params, *p);
            e->units.push_back(std::move(u));
        }
    } else if (e->failures.empty()) {
        e->failures.push_back("task record has no calls");
    }
    _entries[id] = e;
    _fresh.push_back(e);
}

void Consumer::readEntries(const std::string& fromId, int blockMs, bool& gotAny, std::string* lastId) {
    gotAny = false;
    std::string count = std::to_string(_settings.batchSize * static_cast<int>(_maxInFlight));
    std::vector<std::string_view> argv{"XREADGROUP", "GROUP", _settings.group, _settings.consumer,
                                       "COUNT", count};
    std::string block = std::to_string(blockMs);
    if (blockMs > 0) {
        argv.push_back("BLOCK");
        argv.push_back(block);
    }
    argv.push_back("STREAMS");
    argv.push_back(_settings.stream);
    argv.push_back(fromId);
    Reply r = _conn->command(argv);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        if (r && r->type == REDIS_REPLY_ERROR) {
            logger().error("XREADGROUP: %s", pools::replyText(r.get()));
            if (str(r.get()).find("NOGROUP") != std::string::npos) setup();
        }
        return;
    }
    for (std::size_t s = 0; s < r->elements; ++s) {
        const redisReply* streamEntries = r->element[s]->element[1];
        for (std::size_t i = 0; i < streamEntries->elements; ++i) {
            const redisReply* entry = streamEntries->element[i];
            std::string id = str(entry->element[0]);
            const redisReply* fields = entry->elements > 1 ? entry->element[1] : nullptr;
            gotAny = true;
            if (lastId) *lastId = id;
            if (!fields || fields->type != REDIS_REPLY_ARRAY) {
                // Pending but already deleted: only the acknowledgement was lost.
                _conn->command({"XACK", _settings.stream, _settings.group, id});
                continue;
            }
            addEntry(id, fields, 1);
        }
    }
}

void Consumer::flushBatches() {
    if (_fresh.empty()) return;
    auto table = _routes();
    // Group the fresh units by route, keeping arrival order within a route.
    std::map<const plugins::Route*, std::vector<Unit>> byRoute;
    std::vector<const plugins::Route*> order;
    for (auto& e : _fresh) {
        e->remaining = 0;
        e->retry = false;
        e->transient.clear();
        if (!e->failures.empty()) continue; // settled below without running
        for (auto& u : e->units) {
            const plugins::Route* r = table ? table->find(u.api, true) : nullptr;
            std::lock_guard<std::mutex> lock(_doneMutex);
            if (!r) {
                // Retryable: a reload may bring the route back.
                _done.push_back(Done{e->id, code::kNoSuchRoute, "no async route for '" + u.api + "'", false});
            } else {
                if (!byRoute.count(r)) order.push_back(r);
                byRoute[r].push_back(u);
            }
            ++e->remaining;
        }
    }
    _fresh.clear();
    for (const plugins::Route* r : order) {
        auto& units = byRoute[r];
        for (std::size_t at = 0; at < units.size(); at += static_cast<std::size_t>(_settings.batchSize)) {
            std::size_t end = std::min(units.size(), at + static_cast<std::size_t>(_settings.batchSize));
            std::vector<Unit> chunk(std::make_move_iterator(units.begin() + static_cast<std::ptrdiff_t>(at)),
                                    std::make_move_iterator(units.begin() + static_cast<std::ptrdiff_t>(end)));
            ++_inFlight;
            workers::TaskPool::Job job = [this, r, table, chunk = std::move(chunk)](unsigned w) mutable {
                runBatch(w, r, table, std::move(chunk));
            };
            // The pool may be full of synchronous calls: wait for room rather
            // than drop anything (backpressure on the fetcher only).
            while (!_pool.submit(job)) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }
}

void Consumer::runBatch(unsigned w, const plugins::Route* route,
                        std::shared_ptr<const plugins::RouteTable> table, std::vector<Unit> units) {
    (void)table; // keeps the plugin loaded while the batch runs
    std::vector<Done> results = applyBatch(w, route, units);
    {
        std::lock_guard<std::mutex> lock(_doneMutex);
        for (auto& d : results) _done.push_back(std::move(d));
    }
    --_inFlight;
    _doneCv.notify_all();
}

std::vector<Consumer::Done> Consumer::applyBatch(unsigned w, const plugins::Route* route,
                                                 const std::vector<Unit>& units) {
    std::vector<Done> results;
    bool isolate = false;
    bool failedBatch = false;
    int backoffMs = 100;
    for (int attempt = 0;; ++attempt) {
        results.clear();
        pools::SqlFailure f;
        bool dbDown = false;
        auto fail = [&](const pools::SqlFailure& sf) {
            dbDown = dbDown || sf.dbDown;
            pools::SqlFailure ignore;
            _mysql.rollback(w, ignore);
            return false;
        };
        bool ok = [&]() {
            if (!_mysql.begin(w, f)) return fail(f);
            Value ids = Value::array();
            for (auto& u : units) ids.push(u.taskId);
            Value rows;
            // A plain read, not FOR UPDATE: a locking read of absent ids
            // gap-locks the end of the ledger, and two batches inserting
            // there then deadlock. Committed ledger rows are never deleted,
            // and a batch racing us on the same id (a reclaim) waits on our
            // insert's row lock and fails with a duplicate key: retried, it
            // sees the id.
            if (!_mysql.query(w, "SELECT task_id FROM dora_processed_tasks WHERE task_id IN (" +
                                     placeholders(units.size()) + ")",
                              ids, rows, f))
                return fail(f);
            std::set<std::string> seen;
            for (const auto& row : rows.asArray())
                if (const Value* t = row.value.find("task_id")) seen.insert(t->isString() ? t->asString() : "");
            std::vector<plugins::BatchCall> calls;
            std::vector<std::size_t> fresh;
            Value newIds = Value::array();
            for (std::size_t i = 0; i < units.size(); ++i) {
                if (seen.count(units[i].taskId)) continue;
                fresh.push_back(i);
                calls.push_back(plugins::BatchCall{units[i].api, units[i].params, units[i].taskId});
                newIds.push(units[i].taskId);
            }
            std::vector<protocol::CallOutcome> outs;
            if (!fresh.empty()) {
                std::string values;
                for (std::size_t i = 0; i < fresh.size(); ++i) values += i ? ",(?)" : "(?)";
                pools::ExecResult er;
                if (!_mysql.exec(w, "INSERT INTO dora_processed_tasks(task_id) VALUES " + values, newIds, er, f))
                    return fail(f);
                bool down = false, batchFailed = false, conflict = false;
                outs = plugins::invokeInTransaction(*route, _mysql, w, calls, down, batchFailed, conflict);
                if (down) {
                    // Checked first: a batch handler that lost the database
                    // also reports failure, and neither isolating its calls
                    // nor counting a failed attempt is right; wait instead.
                    f.dbDown = true;
                    f.message = "database went away during the batch";
                    return fail(f);
                }
                if (conflict) {
                    // A deadlock may have rolled back part of the batch:
                    // nothing of it may be committed; run it again.
                    f.mysqlErrno = 1213;
                    f.message = "lock conflict (deadlock or lock wait timeout) during the batch";
                    return fail(f);
                }
                if (batchFailed) {
                    // Nothing a failed batch did may be committed. Run its
                    // calls again one by one, so one poison task cannot fail
                    // its neighbours; a lone call's failure is its outcome.
                    pools::SqlFailure ignore;
                    _mysql.rollback(w, ignore);
                    if (units.size() > 1) {
                        isolate = true;
                        return false;
                    }
                    for (std::size_t k = 0; k < fresh.size(); ++k) {
                        Done d{units[fresh[k]].entryId, outs[k].code ? outs[k].code : code::kHandlerFailed,
                               outs[k].code ? outs[k].msg : "batch handler failed", false};
                        results.push_back(std::move(d));
                    }
                    failedBatch = true;
                    return false;
                }
                Value failedIds = Value::array();
                for (std::size_t k = 0; k < fresh.size(); ++k)
                    if (outs[k].code != 0) failedIds.push(units[fresh[k]].taskId);
                if (!failedIds.asArray().empty() &&
                    !_mysql.exec(w, "DELETE FROM dora_processed_tasks WHERE task_id IN (" +
                                        placeholders(failedIds.asArray().size()) + ")",
                                 failedIds, er, f))
                    return fail(f);
            }
            if (!_mysql.commit(w, f)) return fail(f);
            std::size_t k = 0;
            for (std::size_t i = 0; i < units.size(); ++i) {
                Done d{units[i].entryId, 0, {}, false};
                if (k < fresh.size() && fresh[k] == i) {
                    d.code = outs[k].code;
                    d.msg = outs[k].msg;
                    ++k;
                } else {
                    d.duplicate = true;
                }
                results.push_back(std::move(d));
            }
            return true;
        }();
        if (ok || failedBatch) break;
        if (isolate) {
            results.clear();
            for (const auto& u : units) {
                auto one = applyBatch(w, route, std::vector<Unit>{u});
                results.insert(results.end(), one.begin(), one.end());
            }
            return results;
        }
        if (f.mysqlErrno == 1146 /* ER_NO_SUCH_TABLE: the ledger is missing */ && attempt < 3) {
            try {
                ensureLedger(_mysql, w);
            } catch (const std::exception& e) {
                logger().error(e.what());
            }
            continue;
        }
        if (dbDown && !_stopping) {
            // The database is away: keep the batch here and try again; the
            // tasks stay pending in the stream meanwhile.
            if (attempt % 20 == 0)
                logger().warning("batch of %z waits for the database: %s", units.size(), f.message);
            std::this_thread::sleep_for(std::chrono::milliseconds(backoffMs));
            backoffMs = std::min(backoffMs * 2, 2000);
            continue;
        }
        const bool lockConflict = f.mysqlErrno == 1213 || f.mysqlErrno == 1205;
        if (!dbDown && attempt < (lockConflict ? 10 : 3) && !_stopping) {
            // e.g. a deadlock with another batch, or a reclaimer racing on
            // the same task ids: nothing was committed, run it again.
            if (lockConflict) std::this_thread::sleep_for(std::chrono::milliseconds(1 + attempt * 2));
            continue;
        }
        // Give up for now: the tasks count as failed attempts.
        results.clear();
        for (auto& u : units)
            results.push_back(Done{u.entryId, dbDown ? code::kDatabaseDown : code::kHandlerFailed,
                                   "batch failed: " + f.message, false});
        break;
    }
    return results;
}

void Consumer::deadLetter(const std::string& entryId, const std::string& reason, const std::string& fields) {
    (void)fields;
    auto it = _entries.find(entryId);
    const Entry* e = it == _entries.end() ? nullptr : it->second.get();
    _conn->append({"XADD", _settings.deadLetterStream, "*", "entry", entryId, "reason", reason, "type",
                   e ? std::string_view(e->type) : std::string_view(), "guid",
                   e ? std::string_view(e->guid) : std::string_view(), "calls",
                   e ? std::string_view(e->callsRaw) : std::string_view()});
}

void Consumer::settle() {
    std::vector<Done> done;
    {
        std::lock_guard<std::mutex> lock(_doneMutex);
        done.swap(_done);
    }
    // Entries that had nothing to run (unreadable) settle immediately.
    std::vector<std::string> finished;
    for (auto& [id, e] : _entries)
        if (!e->failures.empty() && e->remaining == 0 && e->units.empty()) finished.push_back(id);
    Counters add;
    for (auto& d : done) {
        auto it = _entries.find(d.entryId);
        if (it == _entries.end()) continue;
        Entry& e = *it->second;
        if (d.duplicate) {
            ++add.duplicates;
        } else if (d.code == 0) {
            ++add.applied;
        } else if (retryable(d.code)) {
            e.transient.push_back(std::to_string(d.code) + " " + d.msg);
        } else {
            e.failures.push_back(std::to_string(d.code) + " " + d.msg);
        }
        if (e.remaining > 0 && --e.remaining == 0) finished.push_back(d.entryId);
    }
    if (finished.empty()) {
        std::lock_guard<std::mutex> lock(_countersMutex);
        _counters.applied += add.applied;
        _counters.duplicates += add.duplicates;
        return;
    }
    std::vector<std::string> ack;
    std::size_t appended = 0;
    for (auto& id : finished) {
        auto it = _entries.find(id);
        if (it == _entries.end()) continue;
        Entry& e = *it->second;
        if (!e.transient.empty() && e.failures.empty() && e.attempts <= _settings.maxRetries) {
            // Try again later, in this process; the entry stays pending.
            int delay = _settings.retryBackoffMs << std::min(e.attempts - 1, 16);
            ++e.attempts;
            ++add.retried;
            _retryAt[id] = Clock::now() + std::chrono::milliseconds(delay);
            logger().information("task %s failed (%s); retry %d in %d ms", id, e.transient.front(),
                                 e.attempts - 1, delay);
            continue;
        }
        if (!e.failures.empty() || !e.transient.empty()) {
            std::string reason = !e.failures.empty() ? e.failures.front()
                                                     : "gave up after " + std::to_string(e.attempts) +
                                                           " attempts: " + e.transient.front();
            deadLetter(id, reason, e.callsRaw);
            ++appended;
            ++add.deadLettered;
            logger().warning("task %s moved to %s: %s", id, _settings.deadLetterStream, reason);
        }
        ack.push_back(id);
    }
    if (!ack.empty()) {
        std::vector<std::string_view> xack{"XACK", _settings.stream, _settings.group};
        std::vector<std::string_view> xdel{"XDEL", _settings.stream};
        for (auto& id : ack) {
            xack.push_back(id);
            xdel.push_back(id);
        }
        _conn->append(xack);
        _conn->append(xdel);
        appended += 2;
    }
    bool ok = true;
    for (std::size_t i = 0; i < appended; ++i) {
        Reply r = _conn->reply();
        if (isError(r.get())) ok = false;
    }
    if (!ok) logger().warning("acknowledging tasks failed; they will be replayed and skipped as duplicates");
    for (auto& id : ack) _entries.erase(id);
    {
        std::lock_guard<std::mutex> lock(_countersMutex);
        _counters.applied += add.applied;
        _counters.duplicates += add.duplicates;
        _counters.deadLettered += add.deadLettered;
        _counters.retried += add.retried;
    }
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

void Consumer::reclaim() {
    std::string idle = std::to_string(_settings.claimIdleMs);
    std::string count = std::to_string(_settings.batchSize);
    Reply r = _conn->command({"XAUTOCLAIM", _settings.stream, _settings.group, _settings.consumer, idle, "0-0",
                              "COUNT", count});
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 2) return;
    const redisReply* list = r->element[1];
    for (std::size_t i = 0; i < list->elements; ++i) {
        const redisReply* entry = list->element[i];
        if (entry->type != REDIS_REPLY_ARRAY || entry->elements < 2) continue;
        std::string id = str(entry->element[0]);
        if (_entries.count(id)) continue; // ours, still being worked on
        logger().information("took over task %s from an idle consumer", id);
        addEntry(id, entry->element[1], 1);
    }
}

void Consumer::prune() {
    // A task can only be replayed while its entry is still pending in the
    // stream; ledger rows far older than that are dead weight. Runs on a
    // worker (it needs a MySQL connection), in small slices.
    int days = _settings.ledgerRetentionDays;
    _pool.submit([this, days](unsigned w) {
        pools::SqlFailure f;
        pools::ExecResult r;
        if (!_mysql.exec(w,
                         "DELETE FROM dora_processed_tasks WHERE processed_at < NOW() - INTERVAL " +
                             std::to_string(days) + " DAY LIMIT 10000",
                         Value(), r, f))
            logger().warning("pruning the task ledger failed: %s", f.message);
        else if (r.affected > 0)
            logger().information("pruned " + std::to_string(r.affected) + " ledger rows older than " +
                                 std::to_string(days) + " days");
    });
}

void Consumer::run() {
    while (!_stopping && !setup()) std::this_thread::sleep_for(std::chrono::seconds(1));
    if (_stopping) return;
    // First what this consumer left pending (a restart after a crash).
    std::string last = "0";
    bool first = true;
    auto lastReclaim = Clock::now();
    auto lastPrune = Clock::now() - std::chrono::minutes(9); // first prune a minute after start
    while (!_stopping) {
        if (!_conn || _conn->broken()) {
            if (!setup()) {
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
            reclaim();
        }
        if (Clock::now() - lastPrune > std::chrono::minutes(10)) {
            lastPrune = Clock::now();
            prune();
        }
        flushBatches();
        if (_inFlight >= _maxInFlight) {
            std::unique_lock<std::mutex> lock(_doneMutex);
            _doneCv.wait_for(lock, std::chrono::milliseconds(50), [&] { return !_done.empty() || _stopping; });
            continue;
        }
        bool got = false;
        if (first) {
            readEntries(last, 0, got, &last);
            if (!got) {
                first = false;
                last = "0";
            }
        } else {
            readEntries(">", _inFlight > 0 || !_entries.empty() ? 0 : 200, got, nullptr);
            if (got && _settings.batchLatencyMs > 0 &&
                _fresh.size() < static_cast<std::size_t>(_settings.batchSize)) {
                // Give a trickle a moment to become a batch.
                std::this_thread::sleep_for(std::chrono::milliseconds(_settings.batchLatencyMs));
                bool more = false;
                readEntries(">", 0, more, nullptr);
            }
        }
        if (!got && _inFlight > 0) {
            std::unique_lock<std::mutex> lock(_doneMutex);
            _doneCv.wait_for(lock, std::chrono::milliseconds(5), [&] { return !_done.empty() || _stopping; });
        } else if (!got && !_retryAt.empty()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
    // Stopping: let batches in flight finish and acknowledge them.
    auto deadline = Clock::now() + std::chrono::seconds(30);
    while (_inFlight > 0 && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (_conn && !_conn->broken()) settle();
}

} // namespace dora::queue
