// sync_user: the seed's user controller, served in the sync modes.
// Table: config/schema/001_users.sql. Names are unique; every handler
// validates its params before touching the database.
//
// The four writes are the samples' shared batch handlers
// (plugins/common/user_writes.h, which async_user serves too): with
// `group_commit: true` the calls a worker takes together are one batch,
// written with one multi-row statement in one transaction; a call alone is a
// batch of one. Each call still gets its own answer.
#include "user_writes.h"

using namespace dora::sdk;
namespace users = dora::samples::users;

namespace {

// get_user(name) -> {id, name, department, visits}
Value getUser(Call& call) {
    std::string name = users::requireName(call);
    auto row = call.sql().queryOne("SELECT id, name, department, visits FROM users WHERE name = ?",
                                   {name});
    if (!row) throw Error(kNotFound, "user '" + name + "' not found");
    return *row;
}

} // namespace

DORA_PLUGIN("sync_user", "1.0.0", [](Registrar& r) {
    r.batchHandler("add_user", users::addUser);
    r.handler("get_user", getUser);
    r.batchHandler("update_user", users::updateUser);
    r.batchHandler("insert_user", users::insertUser);
    r.batchHandler("plus_user", users::plusUser);
});
