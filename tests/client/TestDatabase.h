// tests/client/TestDatabase.h — this runner's own database. CTest gives
// test_client DORA_TEST_MYSQL_DATABASE=dorahost_test_client, so its hosts
// and checks never race the other suites' `DELETE FROM users` when CTest
// runs runners in parallel. Created (with config/schema/*.sql) on first use.
#pragma once

namespace dora::test {

/// Creates the test database named by testDb() and applies the schema,
/// once per process; throws std::runtime_error on failure.
void prepareTestDatabase();

} // namespace dora::test
