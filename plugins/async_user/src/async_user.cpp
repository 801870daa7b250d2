// async_user: the seed's four user writes (add_user, update_user,
// insert_user, plus_user), served in the async modes through the durable
// queue. The host hands each handler up to queue.batch_size tasks of one
// api and runs the batch in one MySQL transaction (with the exactly-once
// ledger rows of the tasks). The handlers are the samples' shared batch
// writes (dora_samples/user_writes.h), which sync_user serves too.
#include <dora_samples/user_writes.h>

namespace users = dora::samples::users;

DORA_PLUGIN("async_user", "1.0.0", [](dora::sdk::Registrar& r) {
    r.batchHandler("add_user", users::addUser);
    r.batchHandler("update_user", users::updateUser);
    r.batchHandler("insert_user", users::insertUser);
    r.batchHandler("plus_user", users::plusUser);
});
