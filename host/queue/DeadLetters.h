// queue/DeadLetters.h — the dead-letter stream, for operators (control
// commands deadList, deadShow, deadRedrive, deadPurge; `dora dead`).
// A redriven letter goes back into the task stream with its first entry id
// as `origin`, which the consumer's ledger ids keep: calls of it that were
// applied before it died are skipped, so it is still applied at most once.
// Each call opens a short-lived Redis connection (the control thread's).
#pragma once

#include "pools/RedisSettings.h"
#include "queue/QueueSettings.h"

#include <dora/sdk/value.h>

#include <cstddef>
#include <string>

namespace dora::queue {

class DeadLetters {
public:
    DeadLetters(pools::RedisSettings redis, QueueSettings settings);

    /// "all", or a stream entry id ("<ms>-<seq>").
    static bool validId(const std::string& id);

    /// [dead_letters => total, letters => [oldest first, at most max]].
    /// Throws std::runtime_error when Redis cannot be reached.
    dora::sdk::Value list(std::size_t max) const;
    /// One letter with its calls decoded; null when there is none.
    dora::sdk::Value show(const std::string& id) const;
    /// Moves letter `id` (or every letter: "all") back into the task
    /// stream; returns how many. Its status record says queued again.
    std::size_t redrive(const std::string& id) const;
    /// Deletes letter `id` (or every letter); returns how many.
    std::size_t purge(const std::string& id) const;

private:
    pools::RedisSettings _redis;
    QueueSettings _settings;
};

} // namespace dora::queue
