// sync_user: the seed's user controller, served in the sync modes.
// Table: config/schema/001_users.sql. Names are unique; every handler
// validates its params before touching the database.
#include <dora/sdk/plugin.h>

#include <string>

using namespace dora::sdk;

namespace {

// The VARCHAR(64) columns. MySQL counts characters, we count bytes: a
// stricter limit that never lets the server truncate or refuse.
constexpr std::size_t kMaxName = 64;
constexpr std::size_t kMaxDepartment = 64;

std::string requireName(Call& call) { return call.requireString("name", kMaxName); }

std::string optDepartment(Call& call) { return call.optString("department", "", kMaxDepartment); }

std::string requireDepartment(Call& call) {
    // May be empty (clears the department), but must be given.
    if (!call.has("department")) throw Error(kBadParam, "param 'department' is required");
    return optDepartment(call);
}

Error notFound(const std::string& name) {
    return Error(kNotFound, "user '" + name + "' not found");
}

// A column of a row the host returned.
const Value& column(const Value& row, const char* name) {
    const Value* v = row.find(name);
    if (v == nullptr) throw Error(kHandlerFailed, std::string("row has no column '") + name + "'");
    return *v;
}

// add_user(name, [department]) -> {id, name, department}
Value addUser(Call& call) {
    std::string name = requireName(call);
    std::string department = optDepartment(call);
    ExecResult r;
    try {
        r = call.sql().exec("INSERT INTO users (name, department) VALUES (?, ?)",
                            {name, department});
    } catch (const SqlError& e) {
        if (e.isDuplicateKey()) throw Error(kConflict, "user '" + name + "' already exists");
        throw;
    }
    return Value::array().set("id", r.insertId).set("name", name).set("department", department);
}

// get_user(name) -> {id, name, department, visits}
Value getUser(Call& call) {
    std::string name = requireName(call);
    auto row = call.sql().queryOne("SELECT id, name, department, visits FROM users WHERE name = ?",
                                   {name});
    if (!row) throw notFound(name);
    return *row;
}

// update_user(name, department) -> {updated: true}
// MySQL's affected rows is 0 when the department is unchanged, so "found"
// is decided by a locking read in the same transaction: no add_user can
// slip in between the check and the update.
Value updateUser(Call& call) {
    std::string name = requireName(call);
    std::string department = requireDepartment(call);
    Sql& sql = call.sql();
    Transaction tx(sql);
    auto row = sql.queryOne("SELECT id FROM users WHERE name = ? FOR UPDATE", {name});
    if (!row) throw notFound(name);
    sql.exec("UPDATE users SET department = ? WHERE name = ?", {department, name});
    tx.commit();
    return Value::array().set("updated", true);
}

// insert_user(name, [department]) -> {id, name, department}: insert or
// overwrite the department. id = LAST_INSERT_ID(id) makes the existing
// row's id the statement's insert id.
Value insertUser(Call& call) {
    std::string name = requireName(call);
    std::string department = optDepartment(call);
    Sql& sql = call.sql();
    ExecResult r = sql.exec("INSERT INTO users (name, department) VALUES (?, ?) "
                            "ON DUPLICATE KEY UPDATE department = VALUES(department), "
                            "id = LAST_INSERT_ID(id)",
                            {name, department});
    Value id = r.insertId;
    if (r.insertId == 0) { // not every server reports LAST_INSERT_ID(expr) for an unchanged row
        auto row = sql.queryOne("SELECT id FROM users WHERE name = ?", {name});
        if (!row) throw notFound(name);
        id = column(*row, "id");
    }
    return Value::array().set("id", std::move(id)).set("name", name).set("department", department);
}

// plus_user(name, [department]) -> {name, visits}: one more visit,
// creating the user (with department) on the first. The upsert locks the
// row, so the read in the same transaction sees exactly our increment.
Value plusUser(Call& call) {
    std::string name = requireName(call);
    std::string department = optDepartment(call);
    Sql& sql = call.sql();
    Transaction tx(sql);
    sql.exec("INSERT INTO users (name, department, visits) VALUES (?, ?, 1) "
             "ON DUPLICATE KEY UPDATE visits = visits + 1",
             {name, department});
    auto row = sql.queryOne("SELECT visits FROM users WHERE name = ?", {name});
    if (!row) throw notFound(name);
    tx.commit();
    return Value::array().set("name", name).set("visits", column(*row, "visits"));
}

} // namespace

DORA_PLUGIN("sync_user", "1.0.0", [](Registrar& r) {
    r.handler("add_user", addUser);
    r.handler("get_user", getUser);
    r.handler("update_user", updateUser);
    r.handler("insert_user", insertUser);
    r.handler("plus_user", plusUser);
});
