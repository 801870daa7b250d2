// async_user: the seed's four user writes (add_user, update_user,
// insert_user, plus_user), served in the async modes through the durable
// queue. The host hands each handler up to queue.batch_size tasks of one
// api and runs the batch in one MySQL transaction (with the exactly-once
// ledger rows of the tasks). The handlers are the samples' shared batch
// writes (dora_samples/user_writes.h), which sync_user serves too.
//
// sync_user serves get_user from a Redis cache; the queued writes that
// change a row (update_user, insert_user, plus_user) delete its cached
// copy too, one DEL per batch, so a get_user after an async write reads
// the new row (option cache_prefix: the same prefix as sync_user's; "" =
// do not touch the cache). add_user has nothing to delete: misses are not
// cached.
#include <dora_samples/user_writes.h>

using namespace dora::sdk;
namespace users = dora::samples::users;

namespace {

Counter gInvalidations, gErrors;

template <void (*Write)(Batch&)> void writeAndInvalidate(Batch& batch) {
    if (batch.size() == 0) return;
    const std::string prefix = batch[0].options().string("cache_prefix");
    if (prefix.empty()) return Write(batch);
    const std::int64_t n = users::writeAndInvalidate<Write>(batch, prefix);
    if (n < 0)
        gErrors.add();
    else
        gInvalidations.add(n);
}

} // namespace

DORA_PLUGIN("async_user", "1.1.0", [](Registrar& r) {
    r.option("cache_prefix", OptionType::String, "dora:user:",
             "Redis key prefix of sync_user's cached rows, deleted by the writes; \"\" = leave the cache alone");
    gInvalidations = r.counter("cache_invalidations", "cached rows (sync_user's get_user) deleted by a queued write");
    gErrors = r.counter("cache_errors", "deletes of cached rows that failed (the row is served stale until its ttl)");
    r.batchHandler("add_user", users::addUser); // misses are not cached: nothing to delete
    r.batchHandler("update_user", writeAndInvalidate<users::updateUser>);
    r.batchHandler("insert_user", writeAndInvalidate<users::insertUser>);
    r.batchHandler("plus_user", writeAndInvalidate<users::plusUser>);
});
