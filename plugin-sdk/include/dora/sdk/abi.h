/* dora/sdk/abi.h — the binary boundary between dorahost and a plugin.
 *
 * Only C types cross this line: a versioned entry point, a host function
 * table, opaque handles and {ptr, len} buffers. Values (call parameters,
 * results, SQL parameters and rows) cross as PHP-serialize bytes, the same
 * encoding the wire uses, so a plugin built by another compiler or another
 * C++ standard library still works.
 *
 * Versioning: DORA_ABI_MAJOR changes break the boundary (the host refuses
 * such a plugin); DORA_ABI_MINOR additions only append members to the end
 * of the structs below (a plugin built against an older minor still loads;
 * one built against a newer minor than the host is refused).
 *
 * Every struct that crosses starts with its own size so that either side
 * can tell which members the other knows.
 */
#ifndef DORA_SDK_ABI_H
#define DORA_SDK_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DORA_ABI_MAJOR 1
#define DORA_ABI_MINOR 2

/* The symbol every plugin exports. */
#define DORA_PLUGIN_ENTRY_SYMBOL "dora_plugin_entry"

/* A borrowed byte range. Never owns its bytes; see each use for how long
 * the bytes stay valid. */
typedef struct dora_buf {
    const char* ptr;
    size_t len;
} dora_buf;

/* Opaque handles, owned by the host. */
typedef struct dora_host dora_host;           /* the host, for logging */
typedef struct dora_registrar dora_registrar; /* valid only during init */
typedef struct dora_ctx dora_ctx;             /* one handler invocation */
typedef struct dora_call dora_call;           /* one call inside a ctx */
typedef struct dora_metric dora_metric;       /* a plugin's metric (ABI 1.2) */

/* Status codes returned by host functions. */
enum {
    DORA_OK = 0,
    DORA_ERR_ARG = 1,      /* bad argument (e.g. undecodable buffer) */
    DORA_ERR_STATE = 2,    /* not allowed now (e.g. register after init) */
    DORA_ERR_SQL = 3,      /* the database refused or failed the statement */
    DORA_ERR_DB_DOWN = 4,  /* no database connection could be had */
    DORA_ERR_INTERNAL = 5,
    /* ABI 1.2 */
    DORA_ERR_REDIS = 6,      /* Redis answered the command with an error reply */
    DORA_ERR_REDIS_DOWN = 7  /* no Redis connection could be had, or it broke */
};

/* ABI 1.2: how the call came in (call_mode). */
enum {
    DORA_MODE_SYNC_SINGLE = 1,         /* SSS / W_S */
    DORA_MODE_SYNC_MULTI = 2,          /* SSM / W_M */
    DORA_MODE_ASYNC_SINGLE = 3,        /* SRS / AN_S: from the durable queue */
    DORA_MODE_ASYNC_MULTI = 4,         /* SRM / AN_M: from the durable queue */
    DORA_MODE_ASYNC_RESULT_SINGLE = 5, /* AM_S */
    DORA_MODE_ASYNC_RESULT_MULTI = 6   /* AM_M */
};

/* ABI 1.2: the protocol generation the call came by (call_generation). */
enum { DORA_GEN_V1 = 1, DORA_GEN_V2 = 2, DORA_GEN_JSON = 3, DORA_GEN_HTTP = 4 };

/* ABI 1.2: plugin option types (register_option). */
enum { DORA_OPT_BOOL = 1, DORA_OPT_INT = 2, DORA_OPT_FLOAT = 3, DORA_OPT_STRING = 4 };

/* ABI 1.2: plugin metric kinds (register_metric). */
enum { DORA_METRIC_COUNTER = 1, DORA_METRIC_HISTOGRAM = 2 };

enum { DORA_LOG_DEBUG = 0, DORA_LOG_INFO = 1, DORA_LOG_WARN = 2, DORA_LOG_ERROR = 3 };

/* A single-call handler. Reads its parameters with call_params and answers
 * with call_set_result or call_set_error. Returning non-zero without an
 * answer means "handler failed". Runs on a host task-pool thread; may run
 * concurrently with itself on other threads. */
typedef int32_t (*dora_handler_fn)(void* user, dora_ctx* ctx, dora_call* call);

/* A batch handler (optional): receives up to n calls sharing one ctx (one
 * database transaction when the host runs the batch transactionally).
 * Answers each call individually. A non-zero return means the batch failed
 * as a whole: the host rolls back its transaction whatever answers were
 * given (and may run the calls again one by one). */
typedef int32_t (*dora_batch_handler_fn)(void* user, dora_ctx* ctx, dora_call* const* calls,
                                         size_t n);

/* The host function table. Members are only ever appended. */
typedef struct dora_host_api {
    uint32_t struct_size;
    uint16_t abi_major;
    uint16_t abi_minor;

    /* Logging: allowed at any time, from any thread. */
    void (*log)(dora_host* host, int32_t level, dora_buf message);

    /* Registration: only during init, with the registrar init received.
     * The name is copied. A name registered twice is DORA_ERR_ARG. */
    int32_t (*register_handler)(dora_registrar* reg, dora_buf name, dora_handler_fn fn, void* user);
    int32_t (*register_batch_handler)(dora_registrar* reg, dora_buf name,
                                      dora_batch_handler_fn fn, void* user);

    /* The call's parameters, PHP-serialized. Valid until the call ends. */
    dora_buf (*call_params)(dora_call* call);
    /* The call's api name. Valid until the call ends. */
    dora_buf (*call_api)(dora_call* call);
    /* Answer the call. The bytes are copied. result must be one
     * PHP-serialized value; the last answer given wins. */
    int32_t (*call_set_result)(dora_call* call, dora_buf serialized_result);
    int32_t (*call_set_error)(dora_call* call, int32_t code, dora_buf message);

    /* SQL on the database session the host lends to this ctx. The session
     * is taken from the host's pool on first use and given back when the
     * handler returns, whatever happened (an open transaction is rolled
     * back). params: a PHP-serialized list bound to the '?' placeholders.
     * On success *out_rows (may be NULL) receives a PHP-serialized list of
     * rows, each an array column name => value; the bytes stay valid until
     * the next host call on this ctx. On failure the error text is in
     * ctx_last_error. */
    int32_t (*sql_query)(dora_ctx* ctx, dora_buf sql, dora_buf params, dora_buf* out_rows);
    int32_t (*sql_exec)(dora_ctx* ctx, dora_buf sql, dora_buf params, uint64_t* out_affected,
                        uint64_t* out_insert_id);
    int32_t (*sql_begin)(dora_ctx* ctx);
    int32_t (*sql_commit)(dora_ctx* ctx);
    int32_t (*sql_rollback)(dora_ctx* ctx);
    /* The MySQL error number of the last failed SQL call (0 if none), for
     * telling e.g. a duplicate key (1062) from other failures. */
    int32_t (*ctx_last_sql_errno)(dora_ctx* ctx);
    /* Text of the last failure on this ctx. Valid until the next call. */
    dora_buf (*ctx_last_error)(dora_ctx* ctx);

    /* ---- ABI 1.1 ---- */

    /* The durable id of an async call taken from the host's task queue:
     * unique among the tasks sharing the host's database, the same on every
     * attempt and on every host of a cluster, so a handler can use it as an
     * idempotency key. Opaque text (today "<stream tag>:<stream entry
     * id>#<index of the call in its request>"). Empty for a call that did
     * not come through the queue (sync calls). Valid until the call ends. */
    dora_buf (*call_task_id)(dora_call* call);

    /* ---- ABI 1.2 ---- */

    /* Call metadata. Any thread, only while the call runs; buffers are
     * valid until the call ends. */
    /* The request's guid as the client sent it (32 hex digits for the
     * PHP clients; whatever the HTTP client gave). */
    dora_buf (*call_guid)(dora_call* call);
    /* DORA_MODE_* of the request the call belongs to. */
    int32_t (*call_mode)(dora_call* call);
    /* DORA_GEN_* the request came by. */
    int32_t (*call_generation)(dora_call* call);
    /* "ip:port" of the client; empty for a task from the queue (the client
     * that stored it may be gone, and it may have come to another host). */
    dora_buf (*call_peer)(dora_call* call);
    /* 1 on the first run; n on the n-th run of a queued task (retries after
     * a transient failure, counting those of a host it was taken over
     * from). Sync calls: always 1. */
    uint32_t (*call_attempt)(dora_call* call);
    /* Microseconds left before the route's timeout_ms passes (the host
     * then answers 100203 and drops a late result); 0 once it passed; -1
     * when the route has no timeout (and for queued tasks). */
    int64_t (*call_time_left_us)(dora_call* call);
    /* Like log, with the call's guid in the line. */
    void (*call_log)(dora_call* call, int32_t level, dora_buf message);

    /* Plugin options: the route file's `options:` map. Declared during
     * init only: name ([a-z0-9_]+), DORA_OPT_* type, the default as YAML
     * text (parsed like a value in the file) and one line of help. The host
     * checks the file's value against the type; after init, a key in the
     * file that no call declared refuses the load. DORA_ERR_ARG for a bad
     * name, type or default, or a name declared twice. */
    int32_t (*register_option)(dora_registrar* reg, dora_buf name, int32_t type,
                               dora_buf default_text, dora_buf help);
    /* An option's value (the file's, else the default), PHP-serialized:
     * b:, i:, d: or s:. Any thread, from its declaration in init until
     * shutdown; the bytes stay valid as long. DORA_ERR_ARG: not declared. */
    int32_t (*option_get)(dora_host* host, dora_buf name, dora_buf* out_value);

    /* Redis on a connection the host lends to this ctx from its handler
     * pool (redis.handler_connections): taken on first use, given back
     * when the handler returns. argv: a PHP-serialized list of strings
     * (binary safe). *out_reply receives the reply PHP-serialized: a
     * string (bulk or status), int, null (nil) or a list of those (RESP2);
     * valid until the next host call on this ctx. An error
     * reply is DORA_ERR_REDIS with its text in ctx_last_error; no
     * connection (none configured, Redis unreachable, or none free within
     * redis.connect_timeout_ms) or a broken one is DORA_ERR_REDIS_DOWN. */
    int32_t (*redis_command)(dora_ctx* ctx, dora_buf argv, dora_buf* out_reply);
    /* Several commands in one round trip: commands is a PHP-serialized
     * list of argv lists; *out_replies a list with one [ok, value] pair per
     * command, ok false meaning value is the error reply's text. A command
     * that fails alone does not fail the call (DORA_OK); the connection
     * failing is DORA_ERR_REDIS_DOWN. */
    int32_t (*redis_pipeline)(dora_ctx* ctx, dora_buf commands, dora_buf* out_replies);

    /* Plugin metrics, shown in getStat under plugin_metrics.<plugin>.
     * Registered during init only; name [a-z0-9_]+, unique in the plugin.
     * A histogram takes n_bounds > 0 strictly increasing upper bounds
     * (copied); a counter none. NULL on a refusal. The handle is valid
     * until shutdown; add/observe are lock-free, from any thread. */
    dora_metric* (*register_metric)(dora_registrar* reg, int32_t kind, dora_buf name,
                                    dora_buf help, const double* bounds, size_t n_bounds);
    void (*metric_add)(dora_metric* metric, int64_t delta);
    void (*metric_observe)(dora_metric* metric, double value);
} dora_host_api;

/* What a plugin describes about itself. Returned by the entry point; must
 * stay valid while the library is loaded (a static is typical). */
typedef struct dora_plugin_info {
    uint32_t struct_size;
    uint16_t abi_major; /* set to DORA_ABI_MAJOR */
    uint16_t abi_minor; /* set to DORA_ABI_MINOR */
    const char* name;    /* NUL-terminated */
    const char* version; /* NUL-terminated, free text shown in getStat */

    /* Called once after the ABI check. Registers handlers through reg and
     * may set *state, which is passed back to shutdown. Returns DORA_OK, or
     * anything else to refuse loading; *error says why (valid until init
     * returns: the host copies it). A refused plugin's registrations are
     * discarded and shutdown is not called. */
    int32_t (*init)(const dora_host_api* api, dora_host* host, dora_registrar* reg, void** state,
                    const char** error);
    /* Called once, after the last call into the plugin returned. May be
     * NULL. */
    void (*shutdown)(void* state);
} dora_plugin_info;

typedef const dora_plugin_info* (*dora_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* DORA_SDK_ABI_H */
