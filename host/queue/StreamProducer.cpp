#include "queue/StreamProducer.h"

#include "pools/Redis.h"
#include "queue/Pack.h"

#include <Poco/Logger.h>

#include <algorithm>

#include <pthread.h>

namespace dora::queue {

using pools::Reply;
using Clock = std::chrono::steady_clock;

namespace {
Poco::Logger& logger() { return Poco::Logger::get("dorahost.queue"); }
} // namespace

StreamProducer::StreamProducer(pools::RedisSettings redis, QueueSettings settings)
    : _redis(std::move(redis)), _settings(std::move(settings)) {
    _thread = std::thread([this] {
        pthread_setname_np(pthread_self(), "dora-producer");
        run();
    });
}

StreamProducer::~StreamProducer() { stop(); }

void StreamProducer::submit(std::vector<Task>& tasks) {
    if (tasks.empty()) return;
    {
        std::lock_guard<std::mutex> lock(_mutex);
        for (auto& t : tasks)
            _waiting.push_back(std::move(t));
    }
    tasks.clear();
    _cv.notify_one();
}

void StreamProducer::stop() {
    {
        std::lock_guard<std::mutex> lock(_mutex);
        if (_stopping) return;
        _stopping = true;
    }
    _cv.notify_one();
    if (_thread.joinable()) _thread.join();
}

bool StreamProducer::ensureConnected(std::string& error) {
    if (_conn && !_conn->broken()) return true;
    _conn.reset();
    // Do not hammer a Redis that is down: one attempt per 200 ms; calls in
    // between are refused at once with the last error.
    auto now = Clock::now();
    if (now < _nextConnectTry) {
        error = _lastConnectError;
        return false;
    }
    try {
        _conn = std::make_unique<pools::RedisConnection>(_redis);
        return true;
    } catch (const std::exception& e) {
        _lastConnectError = e.what();
        error = _lastConnectError;
        _nextConnectTry = now + std::chrono::milliseconds(200);
        return false;
    }
}

void StreamProducer::replicasAcked(std::size_t n, std::vector<bool>& stored, std::string& error) {
    // One WAIT for the whole batch: it covers every write this connection
    // made before it. Fewer replicas than asked: the tasks are on the
    // master only and a failover could lose them, so they are not
    // "accepted"; they may still run (the ledger keeps a replay once).
    const std::string want = std::to_string(_settings.replicasAck);
    const std::string timeout = std::to_string(_settings.replicasAckTimeoutMs);
    Reply w = _conn->command({"WAIT", want, timeout});
    if (w && w->type == REDIS_REPLY_INTEGER && w->integer >= _settings.replicasAck) return;
    if (w && w->type == REDIS_REPLY_INTEGER)
        error = "stored on the Redis master but acknowledged by " + std::to_string(w->integer) + " of " + want +
                " replicas within " + timeout + " ms (queue.replicas_ack); it may have been stored: outcome unknown";
    else
        error = "Redis " + (w ? "refused WAIT: " + pools::replyText(w.get()) : "connection lost (" + _conn->error() + ")") +
                " while waiting for replicas (queue.replicas_ack); it may have been stored: outcome unknown";
    stored.assign(n, false);
}

void StreamProducer::run() {
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
            // Entries of up to tasks_per_entry requests (queue/Pack.h), in
            // order; a lone request keeps the one-request layout.
            const std::size_t per = static_cast<std::size_t>(std::max(1, _settings.tasksPerEntry));
            std::vector<std::pair<std::size_t, std::size_t>> entries; // [first, last) of batch
            for (std::size_t i = 0; i < batch.size();) {
                std::size_t end = i + 1, bytes = batch[i].calls.size();
                while (end < batch.size() && end - i < per && bytes + batch[end].calls.size() <= kMaxPackBytes)
                    bytes += batch[end++].calls.size();
                entries.emplace_back(i, end);
                i = end;
            }
            for (auto [first, last] : entries) {
                if (last - first == 1) {
                    const Task& t = batch[first];
                    _conn->append({"XADD", _settings.stream, "*", "type", t.type, "guid", t.guid, "calls", t.calls});
                    continue;
                }
                _pack.clear();
                for (std::size_t i = first; i < last; ++i)
                    appendPacked(_pack, batch[i].type, batch[i].guid, batch[i].calls);
                _conn->append({"XADD", _settings.stream, "*", "pack", _pack});
            }
            for (auto [first, last] : entries) {
                Reply r = _conn->reply();
                if (!r) {
                    // The commands went out: Redis may have stored them
                    // before it went away. Say so instead of a plain refusal.
                    error = "Redis connection lost after the task was sent (" + _conn->error() +
                            "); it may have been stored: outcome unknown";
                    break;
                }
                if (r->type == REDIS_REPLY_STRING) {
                    for (std::size_t i = first; i < last; ++i)
                        stored[i] = true;
                    if (last - first > 1) ++_packs;
                } else {
                    error = "Redis refused the task: " + pools::replyText(r.get());
                }
            }
            if (_settings.replicasAck > 0 && std::find(stored.begin(), stored.end(), true) != stored.end())
                replicasAcked(batch.size(), stored, error);
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

} // namespace dora::queue
