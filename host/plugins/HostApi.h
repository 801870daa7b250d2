// plugins/HostApi.h — the host side of the plugin boundary: the function
// table plugins call, the handles it hands out, and invoking a handler.
#pragma once

#include "plugins/CallMeta.h"
#include "plugins/Plugin.h"
#include "pools/RedisPool.h"
#include "protocol/Response.h"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dora::pools {
class SqlSessions;
}


/// One handler invocation: the database session it may borrow and the
/// scratch space for buffers handed back to the plugin.
struct dora_ctx {
    /// The handler Redis pool, and the connection taken from it on first
    /// use (given back when the ctx ends).
    dora::pools::RedisPool* redisPool = nullptr;
    dora::pools::RedisLease redis;
    dora::pools::SqlSessions* mysql = nullptr; ///< may be null (no DB configured)
    unsigned slot = 0;                       ///< the worker running the handler
    /// The route is inline: the handler runs on an I/O thread, where a
    /// statement would stall every connection of that loop; SQL is refused.
    const char* inlineApi = nullptr;
    std::string scratch;                     ///< rows of the last query
    std::string lastError;
    int lastErrno = 0;
    /// Set when the host runs the handler inside its own transaction (a
    /// queue batch): the plugin's begin/commit/rollback become savepoints.
    bool hostTransaction = false;
    int savepointDepth = 0;
    bool dbDown = false; ///< a statement found the database unreachable
    /// A statement hit a deadlock or lock wait timeout (InnoDB may have
    /// rolled the whole transaction back).
    bool lockConflict = false;
    /// Something this call wrote is already committed (an autocommit write
    /// or a committed transaction): re-running the handler is not safe.
    bool committed = false;
};

/// One call inside an invocation.
struct dora_call {
    std::string_view api;
    std::string_view params;
    std::string_view taskId; ///< the queue's durable id; empty for sync calls
    const dora::plugins::CallMeta* meta = nullptr; ///< null: nothing known
    int timeoutMs = 0;                             ///< the route's; 0 = none
    const dora_host* host = nullptr;               ///< the plugin's (call_log names it)
    dora::protocol::CallOutcome* outcome = nullptr;
    bool answered = false;
};

/// Only valid during a plugin's init.
struct dora_registrar {
    dora::plugins::LoadedPlugin* plugin = nullptr;
    bool open = true;
};

namespace dora::plugins {

/// The table every plugin receives. Static data, no state of its own.
const dora_host_api* hostApi();

/// Runs one call through `route` on the calling task worker. Never
/// throws; a handler that fails or gives no answer yields kHandlerFailed.
/// A transaction the handler left open is rolled back. meta (may be null)
/// is what call metadata answers.
protocol::CallOutcome invoke(const Route& route, pools::SqlSessions* mysql, unsigned slot,
                             std::string_view api, std::string_view params, const CallMeta* meta = nullptr);

/// One call of a batch.
struct BatchCall {
    std::string_view api;
    std::string_view params;
    std::string_view taskId; ///< the queue's durable task id: what call_task_id answers
    const CallMeta* meta = nullptr; ///< the stored request's guid, mode, attempt
};

/// How a batch handler run ended, for the caller that owns the
/// transaction (queue/BatchRunner).
enum class BatchStatus {
    Ran,           ///< every call has its outcome; the work may be committed
    HandlerFailed, ///< a batch handler failed as a whole: commit nothing of it
    LockConflict,  ///< a deadlock or lock wait timeout: InnoDB may have rolled
                   ///< back part of it; roll back and run it again
    DatabaseDown,  ///< the connection went away: roll back, wait, run again
};

struct BatchInvocation {
    std::vector<protocol::CallOutcome> outcomes; ///< one per call, in order
    BatchStatus status = BatchStatus::Ran;
};

/// Runs calls of one route inside the transaction the caller opened on
/// worker `slot`. A batch handler gets them all at once; a single-call
/// handler runs each under its own savepoint, so a failing call is undone
/// alone. Retrying is the caller's business (queue/BatchRunner).
BatchInvocation invokeInTransaction(const Route& route, pools::SqlSessions& mysql, unsigned slot,
                                    const std::vector<BatchCall>& calls);

/// One call run inside a transaction the caller opened on `slot` (a group
/// commit): the handler's own begin/commit become savepoints, its plain
/// statements join the caller's transaction. No retry here.
struct GroupedOutcome {
    protocol::CallOutcome outcome;
    bool dbDown = false;       ///< the connection went away: the transaction is gone
    bool lockConflict = false; ///< a deadlock or lock wait: InnoDB may have rolled it all back
};
GroupedOutcome invokeInHostTransaction(const Route& route, pools::SqlSessions& mysql, unsigned slot,
                                       std::string_view api, std::string_view params,
                                       const CallMeta* meta = nullptr);

} // namespace dora::plugins
