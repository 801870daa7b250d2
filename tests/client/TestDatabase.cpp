#include "client/TestDatabase.h"

#include "common/TestSupport.h"

#include <mysql.h>

#include <algorithm>
#include <dirent.h>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace dora::test {

void prepareTestDatabase() {
    static bool done = false;
    if (done) return;
    DbSettings s = testDb();
    MYSQL* db = mysql_init(nullptr);
    if (!mysql_real_connect(db, s.host.c_str(), s.user.c_str(), s.password.c_str(), nullptr, s.port,
                            nullptr, CLIENT_MULTI_STATEMENTS)) {
        std::string why = mysql_error(db);
        mysql_close(db);
        throw std::runtime_error("cannot connect to MySQL for the test database: " + why);
    }
    auto run = [&](const std::string& sql) {
        if (mysql_query(db, sql.c_str()) != 0) {
            std::string why = mysql_error(db);
            mysql_close(db);
            throw std::runtime_error("SQL failed: " + sql.substr(0, 80) + ": " + why);
        }
        do {
            if (MYSQL_RES* r = mysql_store_result(db)) mysql_free_result(r);
        } while (mysql_next_result(db) == 0);
    };
    run("CREATE DATABASE IF NOT EXISTS `" + s.database + "`");
    run("USE `" + s.database + "`");
    std::string dir = env("DORA_SOURCE_DIR") + "/config/schema";
    std::vector<std::string> files;
    if (DIR* d = opendir(dir.c_str())) {
        while (dirent* e = readdir(d)) {
            std::string n = e->d_name;
            if (n.size() > 4 && n.compare(n.size() - 4, 4, ".sql") == 0) files.push_back(n);
        }
        closedir(d);
    }
    if (files.empty()) throw std::runtime_error("no schema files in " + dir);
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
        std::ifstream in(dir + "/" + f);
        std::stringstream ss;
        ss << in.rdbuf();
        run(ss.str());
    }
    mysql_close(db);
    done = true;
}

} // namespace dora::test
