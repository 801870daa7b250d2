// Tests for config/Config.h, config/Endpoint.h and the value parsers in
// config/Schema.h.
#include "config/Config.h"
#include "config/Schema.h"
#include "config/TestUtil.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

using namespace dora::config;
using dora::config::test::assertError;
using dora::config::test::errorOf;
using dora::config::test::TempDir;
namespace fs = std::filesystem;

namespace {

const std::string kFile = "/virtual/etc/dorahost.yaml";

Config load(const std::string& yaml, const Environment& env = {}) {
    return loadConfigFromString(yaml, kFile, env);
}

std::string loadError(const std::string& yaml, const Environment& env = {}) {
    return errorOf([&] { load(yaml, env); });
}

} // namespace

class ConfigTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(ConfigTest);
    CPPUNIT_TEST(testDefaults);
    CPPUNIT_TEST(testEmptySectionsKeepDefaults);
    CPPUNIT_TEST(testFullFile);
    CPPUNIT_TEST(testUnknownTopLevelKey);
    CPPUNIT_TEST(testUnknownKeyInEachSection);
    CPPUNIT_TEST(testDuplicateKey);
    CPPUNIT_TEST(testTypeErrorsNameTheLine);
    CPPUNIT_TEST(testKeyWithoutValue);
    CPPUNIT_TEST(testSectionNotAMap);
    CPPUNIT_TEST(testDocumentNotAMap);
    CPPUNIT_TEST(testYamlSyntaxError);
    CPPUNIT_TEST(testSecondDocumentRejected);
    CPPUNIT_TEST(testStreamAndDeadLetterMustDiffer);
    CPPUNIT_TEST(testRelativePathsFromConfigFolder);
    CPPUNIT_TEST(testRelativeVirtualPathUsesCwd);
    CPPUNIT_TEST(testLoadConfigFromDisk);
    CPPUNIT_TEST(testLoadConfigMissingFile);
    CPPUNIT_TEST(testEnvOverrides);
    CPPUNIT_TEST(testEnvOverridesWinOverFile);
    CPPUNIT_TEST(testEnvBadValuesNameTheVariable);
    CPPUNIT_TEST(testEnvRedisHostPortClearSocket);
    CPPUNIT_TEST(testEnvRedisSocketWinsOverHostPort);
    CPPUNIT_TEST(testEnvRelativePathsFromCwd);
    CPPUNIT_TEST(testEnvEmptyNodeIdMeansDefault);
    CPPUNIT_TEST(testControlToken);
    CPPUNIT_TEST(testSigning);
    CPPUNIT_TEST(testTls);
    CPPUNIT_TEST(testUnrelatedEnvIgnored);
    CPPUNIT_TEST(testProcessEnvironment);
    CPPUNIT_TEST(testEndpointParsing);
    CPPUNIT_TEST(testEndpointErrors);
    CPPUNIT_TEST(testEndpointToString);
    CPPUNIT_TEST(testIpv6EndpointInFile);
    CPPUNIT_TEST(testSizes);
    CPPUNIT_TEST(testSizeErrors);
    CPPUNIT_TEST(testDurations);
    CPPUNIT_TEST(testIntegersAndBools);
    CPPUNIT_TEST(testLogLevels);
    CPPUNIT_TEST(testLogFormatAndEventRate);
    CPPUNIT_TEST(testShippedDefaultConfig);
    CPPUNIT_TEST(testRegistrySection);
    CPPUNIT_TEST(testSentinelAndReplicasAck);
    CPPUNIT_TEST_SUITE_END();

public:
    void testDefaults() {
        Config c = load("");
        CPPUNIT_ASSERT_EQUAL(kFile, c.file);
        const ServerConfig& s = c.server;
        CPPUNIT_ASSERT(s.tcp == (Endpoint{"127.0.0.1", 9567}));
        CPPUNIT_ASSERT(s.http == (Endpoint{"127.0.0.1", 9566}));
        CPPUNIT_ASSERT(s.httpEnabled);
        CPPUNIT_ASSERT_EQUAL(1, s.ioThreads);
        CPPUNIT_ASSERT_EQUAL(4, s.taskWorkers);
        CPPUNIT_ASSERT_EQUAL(std::size_t(2097152), s.maxFrameBytes);
        CPPUNIT_ASSERT_EQUAL(std::size_t(10000), s.maxQueuedTasks);
        CPPUNIT_ASSERT_EQUAL(std::size_t(100), s.maxCallsPerRequest);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1000), s.maxInflightPerConnection);
        CPPUNIT_ASSERT_EQUAL(0, s.idleTimeoutSec);
        CPPUNIT_ASSERT_EQUAL(std::string("information"), s.logLevel);
        CPPUNIT_ASSERT_EQUAL(30, s.httpReceiveTimeoutSec);
        CPPUNIT_ASSERT(!c.protocol.signature);
        CPPUNIT_ASSERT_EQUAL(std::string("=&$*#@(*&%(@"), c.protocol.salt);
        CPPUNIT_ASSERT(!c.protocol.gzip);
        CPPUNIT_ASSERT_EQUAL(std::string("127.0.0.1"), c.mysql.host);
        CPPUNIT_ASSERT_EQUAL(std::uint16_t(3306), c.mysql.port);
        CPPUNIT_ASSERT_EQUAL(std::string("dora"), c.mysql.user);
        CPPUNIT_ASSERT_EQUAL(std::string(), c.mysql.password);
        CPPUNIT_ASSERT_EQUAL(std::string("dorahost"), c.mysql.database);
        CPPUNIT_ASSERT_EQUAL(5, c.mysql.connectTimeoutSec);
        CPPUNIT_ASSERT_EQUAL(60, c.mysql.readTimeoutSec);
        CPPUNIT_ASSERT_EQUAL(60, c.mysql.writeTimeoutSec);
        CPPUNIT_ASSERT_EQUAL(std::string(), c.redis.socket);
        CPPUNIT_ASSERT_EQUAL(std::string("127.0.0.1"), c.redis.host);
        CPPUNIT_ASSERT_EQUAL(std::uint16_t(6379), c.redis.port);
        CPPUNIT_ASSERT_EQUAL(1000, c.redis.connectTimeoutMs);
        CPPUNIT_ASSERT_EQUAL(std::string("dora:tasks"), c.queue.stream);
        CPPUNIT_ASSERT_EQUAL(std::string("dorahost"), c.queue.group);
        CPPUNIT_ASSERT_EQUAL(std::string("dora:dead"), c.queue.deadLetterStream);
        CPPUNIT_ASSERT_EQUAL(defaultNodeId(9567), c.queue.nodeId);
        CPPUNIT_ASSERT_EQUAL(defaultNodeId() + ":9567", c.queue.nodeId);
        CPPUNIT_ASSERT_EQUAL(512, c.queue.batchSize);
        CPPUNIT_ASSERT_EQUAL(10000, c.queue.claimIdleMs);
        CPPUNIT_ASSERT_EQUAL(30, c.server.shutdownTimeoutSec);
        CPPUNIT_ASSERT(c.registry.enabled);
        CPPUNIT_ASSERT(c.registry.groups == std::vector<std::string>{"default"});
        CPPUNIT_ASSERT_EQUAL(10, c.registry.intervalSec);
        CPPUNIT_ASSERT_EQUAL(std::string(), c.registry.advertise.host);
        CPPUNIT_ASSERT_EQUAL(5, c.queue.batchLatencyMs);
        CPPUNIT_ASSERT_EQUAL(5, c.queue.maxRetries);
        CPPUNIT_ASSERT_EQUAL(200, c.queue.retryBackoffMs);
        CPPUNIT_ASSERT_EQUAL(3600, c.queue.statusTtlSec);
        CPPUNIT_ASSERT_EQUAL(std::string(), c.plugins.pluginsDir);
        CPPUNIT_ASSERT_EQUAL(std::string(), c.plugins.routesDir);
    }

    void testEmptySectionsKeepDefaults() {
        Config c =
            load("# only comments\nserver:\nprotocol: {}\nmysql:\nredis:\nqueue:\nplugins:\n");
        CPPUNIT_ASSERT_EQUAL(4, c.server.taskWorkers);
        CPPUNIT_ASSERT_EQUAL(std::uint16_t(3306), c.mysql.port);
        CPPUNIT_ASSERT_EQUAL(512, c.queue.batchSize);
    }

    void testFullFile() {
        Config c = load(R"(
server:
  tcp: 0.0.0.0:1000
  http: "[::1]:1001"
  http_enabled: false
  io_threads: 3
  task_workers: 16
  max_frame_bytes: 512KiB
  max_queued_tasks: 5
  max_calls_per_request: 7
  max_inflight_per_connection: 9
  idle_timeout_sec: 2m
  http_receive_timeout_sec: 1m
  log_level: debug
protocol:
  signature: true
  salt: "abc"
  gzip: TRUE
mysql:
  host: db.example
  port: 3307
  user: u
  password: "p w"
  database: d
  connect_timeout_sec: 7
  read_timeout_sec: 2m
  write_timeout_sec: 9
redis:
  socket: /run/redis.sock
  host: r.example
  port: 6380
  connect_timeout_ms: 2s
queue:
  stream: s1
  group: g1
  dead_letter_stream: d1
  node_id: node-7
  batch_size: 10
  batch_latency_ms: 20
  max_retries: 0
  retry_backoff_ms: 1s
  status_ttl_sec: 2h
plugins:
  plugins_dir: /opt/p
  routes_dir: /opt/r
)");
        const ServerConfig& s = c.server;
        CPPUNIT_ASSERT(s.tcp == (Endpoint{"0.0.0.0", 1000}));
        CPPUNIT_ASSERT(s.http == (Endpoint{"::1", 1001}));
        CPPUNIT_ASSERT(!s.httpEnabled);
        CPPUNIT_ASSERT_EQUAL(3, s.ioThreads);
        CPPUNIT_ASSERT_EQUAL(16, s.taskWorkers);
        CPPUNIT_ASSERT_EQUAL(std::size_t(512 * 1024), s.maxFrameBytes);
        CPPUNIT_ASSERT_EQUAL(std::size_t(5), s.maxQueuedTasks);
        CPPUNIT_ASSERT_EQUAL(std::size_t(7), s.maxCallsPerRequest);
        CPPUNIT_ASSERT_EQUAL(std::size_t(9), s.maxInflightPerConnection);
        CPPUNIT_ASSERT_EQUAL(120, s.idleTimeoutSec);
        CPPUNIT_ASSERT_EQUAL(60, s.httpReceiveTimeoutSec);
        CPPUNIT_ASSERT_EQUAL(std::string("debug"), s.logLevel);
        CPPUNIT_ASSERT(c.protocol.signature);
        CPPUNIT_ASSERT_EQUAL(std::string("abc"), c.protocol.salt);
        CPPUNIT_ASSERT(c.protocol.gzip);
        CPPUNIT_ASSERT_EQUAL(std::string("db.example"), c.mysql.host);
        CPPUNIT_ASSERT_EQUAL(std::uint16_t(3307), c.mysql.port);
        CPPUNIT_ASSERT_EQUAL(std::string("u"), c.mysql.user);
        CPPUNIT_ASSERT_EQUAL(std::string("p w"), c.mysql.password);
        CPPUNIT_ASSERT_EQUAL(std::string("d"), c.mysql.database);
        CPPUNIT_ASSERT_EQUAL(7, c.mysql.connectTimeoutSec);
        CPPUNIT_ASSERT_EQUAL(120, c.mysql.readTimeoutSec);
        CPPUNIT_ASSERT_EQUAL(9, c.mysql.writeTimeoutSec);
        CPPUNIT_ASSERT_EQUAL(std::string("/run/redis.sock"), c.redis.socket);
        CPPUNIT_ASSERT_EQUAL(std::string("r.example"), c.redis.host);
        CPPUNIT_ASSERT_EQUAL(std::uint16_t(6380), c.redis.port);
        CPPUNIT_ASSERT_EQUAL(2000, c.redis.connectTimeoutMs);
        CPPUNIT_ASSERT_EQUAL(std::string("s1"), c.queue.stream);
        CPPUNIT_ASSERT_EQUAL(std::string("g1"), c.queue.group);
        CPPUNIT_ASSERT_EQUAL(std::string("d1"), c.queue.deadLetterStream);
        CPPUNIT_ASSERT_EQUAL(std::string("node-7"), c.queue.nodeId);
        CPPUNIT_ASSERT_EQUAL(10, c.queue.batchSize);
        CPPUNIT_ASSERT_EQUAL(20, c.queue.batchLatencyMs);
        CPPUNIT_ASSERT_EQUAL(0, c.queue.maxRetries);
        CPPUNIT_ASSERT_EQUAL(1000, c.queue.retryBackoffMs);
        CPPUNIT_ASSERT_EQUAL(7200, c.queue.statusTtlSec);
        CPPUNIT_ASSERT_EQUAL(std::string("/opt/p"), c.plugins.pluginsDir);
        CPPUNIT_ASSERT_EQUAL(std::string("/opt/r"), c.plugins.routesDir);
    }

    void testUnknownTopLevelKey() {
        assertError(loadError("server:\n  io_threads: 2\nsevrer:\n  x: 1\n"), kFile + ":3: ",
                    "unknown key 'sevrer' (allowed: server, protocol, mysql, redis, queue, "
                    "registry, plugins, control)");
    }

    void testUnknownKeyInEachSection() {
        const std::pair<const char*, const char*> cases[] = {{"server", "io_threads"},
                                                             {"protocol", "gzip"},
                                                             {"mysql", "host"},
                                                             {"redis", "socket"},
                                                             {"queue", "dead_letter_stream"},
                                                             {"plugins", "routes_dir"},
                                                             {"control", "token"}};
        for (const auto& [section, known] : cases) {
            std::string msg = loadError(std::string("# x\n") + section + ":\n  bogus_key: 1\n");
            assertError(msg, kFile + ":3: ",
                        "unknown key '" + std::string(section) + ".bogus_key' (allowed in " +
                            section + ": ");
            CPPUNIT_ASSERT_MESSAGE(msg, msg.find(known) != std::string::npos);
        }
    }

    void testDuplicateKey() {
        assertError(loadError("server:\n  io_threads: 2\n  io_threads: 3\n"),
                    kFile + ":3: ", "duplicate key 'server.io_threads' (first at line 2)");
        assertError(loadError("mysql:\n  port: 1\nmysql:\n  port: 2\n"),
                    kFile + ":3: ", "duplicate key 'mysql' (first at line 1)");
    }

    void testTypeErrorsNameTheLine() {
        struct Case {
            const char* section;
            const char* key;
            const char* value;
            const char* expect;
        };
        const Case cases[] = {
            {"server", "tcp", "nope", "missing ':port'"},
            {"server", "http", "1.2.3.4:70000", "invalid port"},
            {"server", "http_enabled", "yes", "expected true or false"},
            {"server", "io_threads", "0", "expected an integer in 1..64"},
            {"server", "io_threads", "65", "expected an integer in 1..64"},
            {"server", "task_workers", "abc", "expected an integer in 1..1024"},
            {"server", "max_frame_bytes", "2MB", "unknown unit 'MB'"},
            {"server", "max_frame_bytes", "512", "out of range: expected a size in 1KiB..1GiB"},
            {"server", "max_queued_tasks", "0", "expected an integer in 1..10000000"},
            {"server", "max_calls_per_request", "-1", "expected an integer in 1..100000"},
            {"server", "max_inflight_per_connection", "1.5", "expected an integer"},
            {"server", "idle_timeout_sec", "1500ms", "not a whole number of seconds"},
            {"server", "log_level", "verbose", "expected one of trace, debug, information"},
            {"server", "http_receive_timeout_sec", "0", "out of range"},
            {"protocol", "signature", "1", "expected true or false"},
            {"protocol", "salt", "[a, b]", "expected a single value, got a list"},
            {"protocol", "gzip", "on", "expected true or false"},
            {"mysql", "host", "\"\"", "must not be empty"},
            {"mysql", "port", "0", "expected an integer in 1..65535"},
            {"mysql", "port", "65536", "expected an integer in 1..65535"},
            {"mysql", "user", "''", "must not be empty"},
            {"mysql", "password", "{a: 1}", "expected a single value, got a map"},
            {"mysql", "database", "''", "must not be empty"},
            {"mysql", "connect_timeout_sec", "0", "out of range"},
            {"mysql", "read_timeout_sec", "0", "out of range"},
            {"mysql", "read_timeout_sec", "2d", "unknown unit 'd'"},
            {"mysql", "write_timeout_sec", "500ms", "not a whole number of seconds"},
            {"redis", "socket", "[x]", "expected a single value, got a list"},
            {"redis", "host", "''", "must not be empty"},
            {"redis", "port", "x", "expected an integer in 1..65535"},
            {"redis", "connect_timeout_ms", "0", "out of range"},
            {"redis", "handler_connections", "1025", "expected an integer in 0..1024"},
            {"queue", "stream", "'a b'", "expected a Redis name"},
            {"queue", "group", "''", "expected a Redis name"},
            {"queue", "dead_letter_stream", "'x y'", "expected a Redis name"},
            {"queue", "node_id", "'a b'", "expected a node id"},
            {"queue", "batch_size", "0", "expected an integer in 1..10000"},
            {"queue", "batch_latency_ms", "2m", "out of range"},
            {"queue", "max_retries", "1001", "expected an integer in 0..1000"},
            {"queue", "retry_backoff_ms", "-5", "not a duration"},
            {"queue", "claim_idle_ms", "0", "out of range"},
            {"server", "shutdown_timeout_sec", "0", "out of range"},
            {"registry", "enabled", "yes", "expected true or false"},
            {"registry", "groups", "[]", "the list is empty"},
            {"registry", "groups", "[a, 'b c']", "expected a group name"},
            {"registry", "groups", "{a: 1}", "expected a list, got a map"},
            {"registry", "interval_sec", "0", "out of range"},
            {"registry", "advertise", "0.0.0.0:9567", "the wildcard"},
            {"registry", "advertise", "10.0.0.1:0", "port 0"},
            {"queue", "status_ttl_sec", "721h", "out of range"},
            {"plugins", "plugins_dir", "[a]", "expected a single value, got a list"},
            {"plugins", "routes_dir", "{x: 1}", "expected a single value, got a map"},
        };
        for (const Case& k : cases) {
            // Three comment lines and the section first: the bad key is on line 5.
            std::string yaml = std::string("# one\n# two\n# three\n") + k.section + ":\n  " +
                               k.key + ": " + k.value + "\n";
            assertError(loadError(yaml), kFile + ":5: " + k.section + "." + k.key + ": ", k.expect);
        }
    }

    void testKeyWithoutValue() {
        assertError(loadError("server:\n  io_threads:\n  task_workers: 2\n"),
                    kFile + ":2: server.io_threads: ", "no value given");
        assertError(loadError("mysql:\n  password:\n"),
                    kFile + ":2: mysql.password: ", "write \"\" for an empty string");
    }

    void testSectionNotAMap() {
        assertError(loadError("queue: 5\n"), kFile + ":1: ", "queue must be a map");
        assertError(loadError("\nserver:\n  - a\n"), kFile + ":2: ", "got a list");
    }

    void testDocumentNotAMap() {
        assertError(loadError("- server\n"), kFile + ":1: ", "the document must be a map");
    }

    void testYamlSyntaxError() {
        assertError(loadError("server:\n  tcp: [unclosed\n  io_threads: 2\n"), kFile + ":",
                    "YAML syntax error");
        assertError(loadError("server:\n  io_threads: 1\n    task_workers: 2\n"),
                    kFile + ":3: ", "YAML syntax error");
    }

    void testSecondDocumentRejected() {
        assertError(loadError("server:\n  io_threads: 2\n---\nserver:\n  io_threads: 3\n"),
                    kFile + ":4: ", "more than one YAML document");
    }

    void testStreamAndDeadLetterMustDiffer() {
        assertError(loadError("queue:\n  group: g\n  dead_letter_stream: dora:tasks\n"),
                    kFile + ":3: queue.dead_letter_stream: ", "must differ");
    }

    void testRelativePathsFromConfigFolder() {
        Config c = loadConfigFromString("redis:\n  socket: ../run/redis.sock\n"
                                        "plugins:\n  plugins_dir: ../../lib/dorahost/plugins\n"
                                        "  routes_dir: routes.d/\n",
                                        "/opt/dora/etc/dorahost/dorahost.yaml", {});
        CPPUNIT_ASSERT_EQUAL(std::string("/opt/dora/etc/run/redis.sock"), c.redis.socket);
        CPPUNIT_ASSERT_EQUAL(std::string("/opt/dora/lib/dorahost/plugins"), c.plugins.pluginsDir);
        CPPUNIT_ASSERT_EQUAL(std::string("/opt/dora/etc/dorahost/routes.d/"), c.plugins.routesDir);

        Config abs = loadConfigFromString("plugins:\n  plugins_dir: /usr/lib/x\n"
                                          "  routes_dir: /etc/y\n",
                                          "/opt/dora/etc/dorahost/dorahost.yaml", {});
        CPPUNIT_ASSERT_EQUAL(std::string("/usr/lib/x"), abs.plugins.pluginsDir);
        CPPUNIT_ASSERT_EQUAL(std::string("/etc/y"), abs.plugins.routesDir);
    }

    void testRelativeVirtualPathUsesCwd() {
        Config c = loadConfigFromString("plugins:\n  routes_dir: r\n", "sub/d.yaml", {});
        std::string cwd = fs::current_path().string();
        CPPUNIT_ASSERT_EQUAL(cwd + "/sub/d.yaml", c.file);
        CPPUNIT_ASSERT_EQUAL(cwd + "/sub/r", c.plugins.routesDir);
        // Messages keep the path as given.
        assertError(errorOf([] { loadConfigFromString("x: 1\n", "sub/d.yaml", {}); }),
                    "sub/d.yaml:1: ", "unknown key 'x'");
    }

    void testLoadConfigFromDisk() {
        TempDir dir;
        std::string file = dir.write("dorahost.yaml", "server:\n  io_threads: 7\n"
                                                      "plugins:\n  routes_dir: routes.d\n");
        Config c = loadConfig(file, {});
        CPPUNIT_ASSERT_EQUAL(7, c.server.ioThreads);
        CPPUNIT_ASSERT_EQUAL(file, c.file);
        CPPUNIT_ASSERT_EQUAL(dir.path() + "/routes.d", c.plugins.routesDir);

        std::string bad = dir.write("bad.yaml", "server:\n  io_threads: 70\n");
        assertError(errorOf([&] { loadConfig(bad, {}); }),
                    bad + ":2: server.io_threads: ", "1..64");
    }

    void testLoadConfigMissingFile() {
        assertError(errorOf([] { loadConfig("/nonexistent/dorahost.yaml", {}); }),
                    "/nonexistent/dorahost.yaml: ", "cannot read: No such file or directory");
        TempDir dir;
        assertError(errorOf([&] { loadConfig(dir.path(), {}); }), dir.path() + ": ",
                    "is a directory");
    }

    void testEnvOverrides() {
        Environment env = {
            {"DORAHOST_TCP", "10.0.0.1:1"},
            {"DORAHOST_HTTP", "[::]:2"},
            {"DORAHOST_IO_THREADS", "5"},
            {"DORAHOST_TASK_WORKERS", "33"},
            {"DORAHOST_LOG_LEVEL", "trace"},
            {"DORAHOST_MYSQL_HOST", "mh"},
            {"DORAHOST_MYSQL_PORT", "3310"},
            {"DORAHOST_MYSQL_USER", "mu"},
            {"DORAHOST_MYSQL_PASSWORD", "secret"},
            {"DORAHOST_MYSQL_DATABASE", "mdb"},
            {"DORAHOST_REDIS_SOCKET", "/tmp/r.sock"},
            {"DORAHOST_PLUGINS_DIR", "/p"},
            {"DORAHOST_ROUTES_DIR", "/r"},
            {"DORAHOST_NODE_ID", "n1"},
        };
        Config c = load("", env);
        CPPUNIT_ASSERT(c.server.tcp == (Endpoint{"10.0.0.1", 1}));
        CPPUNIT_ASSERT(c.server.http == (Endpoint{"::", 2}));
        CPPUNIT_ASSERT_EQUAL(5, c.server.ioThreads);
        CPPUNIT_ASSERT_EQUAL(33, c.server.taskWorkers);
        CPPUNIT_ASSERT_EQUAL(std::string("trace"), c.server.logLevel);
        CPPUNIT_ASSERT_EQUAL(std::string("mh"), c.mysql.host);
        CPPUNIT_ASSERT_EQUAL(std::uint16_t(3310), c.mysql.port);
        CPPUNIT_ASSERT_EQUAL(std::string("mu"), c.mysql.user);
        CPPUNIT_ASSERT_EQUAL(std::string("secret"), c.mysql.password);
        CPPUNIT_ASSERT_EQUAL(std::string("mdb"), c.mysql.database);
        CPPUNIT_ASSERT_EQUAL(std::string("/tmp/r.sock"), c.redis.socket);
        CPPUNIT_ASSERT_EQUAL(std::string("/p"), c.plugins.pluginsDir);
        CPPUNIT_ASSERT_EQUAL(std::string("/r"), c.plugins.routesDir);
        CPPUNIT_ASSERT_EQUAL(std::string("n1"), c.queue.nodeId);

        Config redis = load("", {{"DORAHOST_REDIS_HOST", "rh"}, {"DORAHOST_REDIS_PORT", "7000"}});
        CPPUNIT_ASSERT_EQUAL(std::string("rh"), redis.redis.host);
        CPPUNIT_ASSERT_EQUAL(std::uint16_t(7000), redis.redis.port);
    }

    void testEnvOverridesWinOverFile() {
        Config c = load("server:\n  io_threads: 2\nmysql:\n  password: file\n",
                        {{"DORAHOST_IO_THREADS", "3"}, {"DORAHOST_MYSQL_PASSWORD", ""}});
        CPPUNIT_ASSERT_EQUAL(3, c.server.ioThreads);
        CPPUNIT_ASSERT_EQUAL(std::string(), c.mysql.password);
    }

    void testEnvBadValuesNameTheVariable() {
        const std::pair<const char*, const char*> cases[] = {
            {"DORAHOST_TCP", "9567"},         {"DORAHOST_HTTP", "::1:80"},
            {"DORAHOST_IO_THREADS", "0"},     {"DORAHOST_TASK_WORKERS", "many"},
            {"DORAHOST_LOG_LEVEL", "loud"},   {"DORAHOST_MYSQL_HOST", ""},
            {"DORAHOST_MYSQL_PORT", "99999"}, {"DORAHOST_MYSQL_USER", ""},
            {"DORAHOST_MYSQL_DATABASE", ""},  {"DORAHOST_REDIS_HOST", ""},
            {"DORAHOST_REDIS_PORT", "-1"},    {"DORAHOST_NODE_ID", "a b"},
        };
        for (const auto& [name, value] : cases) {
            std::string msg = loadError("", {{name, value}});
            assertError(msg, std::string("environment variable ") + name + ": ");
            CPPUNIT_ASSERT_MESSAGE(msg, msg.find("expected") != std::string::npos ||
                                            msg.find("must not be empty") != std::string::npos);
        }
        // The file is checked before the environment is applied.
        assertError(loadError("server:\n  io_threads: 0\n", {{"DORAHOST_IO_THREADS", "2"}}),
                    kFile + ":2: ");
    }

    void testEnvRedisHostPortClearSocket() {
        const char* yaml = "redis:\n  socket: /run/redis.sock\n";
        CPPUNIT_ASSERT_EQUAL(std::string("/run/redis.sock"), load(yaml).redis.socket);
        Config h = load(yaml, {{"DORAHOST_REDIS_HOST", "10.1.1.1"}});
        CPPUNIT_ASSERT_EQUAL(std::string(), h.redis.socket);
        CPPUNIT_ASSERT_EQUAL(std::string("10.1.1.1"), h.redis.host);
        Config p = load(yaml, {{"DORAHOST_REDIS_PORT", "6390"}});
        CPPUNIT_ASSERT_EQUAL(std::string(), p.redis.socket);
        CPPUNIT_ASSERT_EQUAL(std::uint16_t(6390), p.redis.port);
    }

    void testEnvRedisSocketWinsOverHostPort() {
        Config c = load("", {{"DORAHOST_REDIS_HOST", "h"},
                             {"DORAHOST_REDIS_PORT", "1"},
                             {"DORAHOST_REDIS_SOCKET", "/s.sock"}});
        CPPUNIT_ASSERT_EQUAL(std::string("/s.sock"), c.redis.socket);
        CPPUNIT_ASSERT_EQUAL(std::string("h"), c.redis.host);
    }

    void testEnvRelativePathsFromCwd() {
        std::string cwd = fs::current_path().string();
        Config c = load("", {{"DORAHOST_REDIS_SOCKET", "var/redis.sock"},
                             {"DORAHOST_PLUGINS_DIR", "./lib/p"},
                             {"DORAHOST_ROUTES_DIR", "etc/r"}});
        CPPUNIT_ASSERT_EQUAL(cwd + "/var/redis.sock", c.redis.socket);
        CPPUNIT_ASSERT_EQUAL(cwd + "/lib/p", c.plugins.pluginsDir);
        CPPUNIT_ASSERT_EQUAL(cwd + "/etc/r", c.plugins.routesDir);
    }

    void testEnvEmptyNodeIdMeansDefault() {
        Config c = load("queue:\n  node_id: from-file\n", {{"DORAHOST_NODE_ID", ""}});
        CPPUNIT_ASSERT_EQUAL(defaultNodeId(9567), c.queue.nodeId);
        // Port 0 (any free port) is not stable: the host name alone.
        c = load("server:\n  tcp: 127.0.0.1:0\n");
        CPPUNIT_ASSERT_EQUAL(defaultNodeId(), c.queue.nodeId);
        char host[256] = {};
        gethostname(host, sizeof host - 1);
        CPPUNIT_ASSERT_EQUAL(std::string(host[0] ? host : "localhost"), defaultNodeId());
    }

    void testControlToken() {
        CPPUNIT_ASSERT_EQUAL(std::string(), load("").control.token);
        CPPUNIT_ASSERT_EQUAL(std::string("s3cr-t_T0ken"), load("control:\n  token: s3cr-t_T0ken\n").control.token);
        CPPUNIT_ASSERT_EQUAL(std::string(), load("control:\n  token: \"\"\n").control.token);
        assertError(loadError("control:\n  token: \"a b\"\n"), kFile + ":2: control.token: ",
                    "expected printable ASCII characters without spaces");
        assertError(loadError("control:\n  token: " + std::string(257, 'x') + "\n"), kFile + ":2: control.token: ",
                    "expected at most 256 characters, got 257");
        Config c = load("control:\n  token: from-file\n", {{"DORAHOST_CONTROL_TOKEN", "from-env"}});
        CPPUNIT_ASSERT_EQUAL(std::string("from-env"), c.control.token);
        CPPUNIT_ASSERT_EQUAL(std::string(), load("control:\n  token: x\n", {{"DORAHOST_CONTROL_TOKEN", ""}}).control.token);
        try {
            load("", {{"DORAHOST_CONTROL_TOKEN", "bad token"}});
            CPPUNIT_FAIL("a token with a space was accepted");
        } catch (const dora::config::ConfigError& e) {
            CPPUNIT_ASSERT_MESSAGE(e.what(), std::string(e.what()).find("DORAHOST_CONTROL_TOKEN") != std::string::npos);
        }
    }

    void testSigning() {
        const SigningConfig d = load("").server.signing;
        CPPUNIT_ASSERT(d.key.empty() && !d.required);
        CPPUNIT_ASSERT_EQUAL(300, d.replayWindowSec);
        CPPUNIT_ASSERT_EQUAL(std::size_t(100000), d.replayCache);
        Config c = load("server:\n  signing:\n    key: \"0123456789abcdef\"\n    required: true\n"
                        "    replay_window_sec: 2m\n    replay_cache: 0\n");
        CPPUNIT_ASSERT_EQUAL(std::string("0123456789abcdef"), c.server.signing.key);
        CPPUNIT_ASSERT(c.server.signing.required);
        CPPUNIT_ASSERT_EQUAL(120, c.server.signing.replayWindowSec);
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), c.server.signing.replayCache);
        assertError(loadError("server:\n  signing:\n    key: short\n"), kFile + ":3: server.signing.key: ",
                    "expected a key of at least 16 bytes, got 5");
        assertError(loadError("server:\n  signing:\n    required: true\n"), kFile + ": ",
                    "server.signing.required is true but no key is set");
        assertError(loadError("server:\n  signing:\n    kee: x\n"), kFile + ":3: ", "unknown key 'server.signing.kee'");
        TempDir dir;
        std::string keyFile = dir.write("key", "0123456789abcdefXYZ\n");
        Config f = loadConfigFromString("server:\n  signing:\n    key_file: key\n", dir.path() + "/d.yaml", {});
        CPPUNIT_ASSERT_EQUAL(std::string("0123456789abcdefXYZ"), f.server.signing.key); // newline dropped
        CPPUNIT_ASSERT_EQUAL(keyFile, f.server.signing.keyFile);
        assertError(errorOf([&] { loadConfigFromString("server:\n  signing:\n    key_file: nope\n", dir.path() + "/d.yaml", {}); }),
                    dir.path() + "/d.yaml:3: server.signing.key_file: ", "cannot read signing key file");
        assertError(loadError("server:\n  signing:\n    key: \"0123456789abcdef\"\n    key_file: k\n"), kFile + ":4: ",
                    "give key or key_file, not both");
        // The key may come from the environment alone, with required in the file.
        Config e = load("server:\n  signing:\n    required: true\n", {{"DORAHOST_SIGNING_KEY", "env-key-0123456789"}});
        CPPUNIT_ASSERT_EQUAL(std::string("env-key-0123456789"), e.server.signing.key);
        Config ef = load("", {{"DORAHOST_SIGNING_KEY_FILE", keyFile}, {"DORAHOST_SIGNING_REQUIRED", "true"}});
        CPPUNIT_ASSERT_EQUAL(std::string("0123456789abcdefXYZ"), ef.server.signing.key);
        CPPUNIT_ASSERT(ef.server.signing.required);
        assertError(loadError("", {{"DORAHOST_SIGNING_KEY", "short"}}), "environment variable DORAHOST_SIGNING_KEY: ",
                    "at least 16 bytes");
    }

    void testTls() {
        CPPUNIT_ASSERT(!load("").server.tls.enabled());
        // Paths relative to the config file's folder; the files are read at start.
        Config c = load("server:\n  tls:\n    cert: tls/host.pem\n    key: /keys/host.key\n    client_ca: ca.pem\n");
        CPPUNIT_ASSERT(c.server.tls.enabled());
        CPPUNIT_ASSERT_EQUAL(std::string("/virtual/etc/tls/host.pem"), c.server.tls.cert);
        CPPUNIT_ASSERT_EQUAL(std::string("/keys/host.key"), c.server.tls.key);
        CPPUNIT_ASSERT_EQUAL(std::string("/virtual/etc/ca.pem"), c.server.tls.clientCa);
        // The environment (paths from the cwd) wins, and may complete the pair.
        Config e = load("server:\n  tls:\n    cert: a.pem\n", {{"DORAHOST_TLS_KEY", "/k/a.key"},
                                                               {"DORAHOST_TLS_CERT", "/c/b.pem"},
                                                               {"DORAHOST_TLS_CLIENT_CA", "/c/ca.pem"}});
        CPPUNIT_ASSERT_EQUAL(std::string("/c/b.pem"), e.server.tls.cert);
        CPPUNIT_ASSERT_EQUAL(std::string("/k/a.key"), e.server.tls.key);
        CPPUNIT_ASSERT_EQUAL(std::string("/c/ca.pem"), e.server.tls.clientCa);
        // Half a configuration is an error at load time.
        assertError(loadError("server:\n  tls:\n    cert: a.pem\n"), kFile + ": ",
                    "server.tls.cert is set but server.tls.key is not: TLS needs the certificate's private key too");
        assertError(loadError("server:\n  tls:\n    key: a.key\n"), kFile + ": ",
                    "server.tls.key is set but server.tls.cert is not: TLS needs the certificate too");
        assertError(loadError("server:\n  tls:\n    client_ca: ca.pem\n"), kFile + ": ",
                    "server.tls.client_ca is set but server.tls.cert is not: mutual TLS needs the server's own "
                    "certificate and key");
        std::string unknown = loadError("server:\n  tls:\n    certificate: a.pem\n");
        CPPUNIT_ASSERT_MESSAGE(unknown, unknown.find("server.tls") != std::string::npos);
    }

    void testUnrelatedEnvIgnored() {
        Config c = load("", {{"PATH", "/bin"}, {"DORAHOST_SOMETHING_ELSE", "x"}});
        CPPUNIT_ASSERT_EQUAL(1, c.server.ioThreads);
    }

    void testProcessEnvironment() {
        setenv("DORA_CONFIG_TEST_VAR", "a=b", 1);
        Environment env = processEnvironment();
        unsetenv("DORA_CONFIG_TEST_VAR");
        CPPUNIT_ASSERT_EQUAL(std::string("a=b"), env["DORA_CONFIG_TEST_VAR"]);
    }

    void testEndpointParsing() {
        CPPUNIT_ASSERT(parseEndpoint("127.0.0.1:9567") == (Endpoint{"127.0.0.1", 9567}));
        CPPUNIT_ASSERT(parseEndpoint("localhost:80") == (Endpoint{"localhost", 80}));
        CPPUNIT_ASSERT(parseEndpoint("db-1.example.com:3306") ==
                       (Endpoint{"db-1.example.com", 3306}));
        CPPUNIT_ASSERT(parseEndpoint(":9567") == (Endpoint{"0.0.0.0", 9567}));
        CPPUNIT_ASSERT(parseEndpoint("[::1]:9567") == (Endpoint{"::1", 9567}));
        CPPUNIT_ASSERT(parseEndpoint("[::]:0") == (Endpoint{"::", 0}));
        CPPUNIT_ASSERT(parseEndpoint("[2001:db8::7]:65535") == (Endpoint{"2001:db8::7", 65535}));
        CPPUNIT_ASSERT(parseEndpoint("127.0.0.1:0") == (Endpoint{"127.0.0.1", 0}));
    }

    void testEndpointErrors() {
        const std::pair<const char*, const char*> cases[] = {
            {"", "missing ':port'"},
            {"127.0.0.1", "missing ':port'"},
            {"127.0.0.1:", "invalid port ''"},
            {"127.0.0.1:65536", "invalid port '65536'"},
            {"127.0.0.1:-1", "invalid port '-1'"},
            {"127.0.0.1:80x", "invalid port '80x'"},
            {"::1:9567", "IPv6 addresses must be in brackets"},
            {"[::1]9567", "missing ':port'"},
            {"[::1:9567", "missing ']'"},
            {"[nothex]:1", "invalid IPv6 address 'nothex'"},
            {"[]:1", "invalid IPv6 address ''"},
            {"300.1.1.1:80", "invalid IPv4 address '300.1.1.1'"},
            {"bad host:80", "invalid host name 'bad host'"},
        };
        for (const auto& [text, expect] : cases) {
            std::string msg = "<no error>";
            try {
                parseEndpoint(text);
            } catch (const std::invalid_argument& e) {
                msg = e.what();
            }
            assertError(msg, "", expect);
            assertError(msg, "", "expected host:port, [ipv6]:port or :port");
        }
    }

    void testEndpointToString() {
        CPPUNIT_ASSERT_EQUAL(std::string("127.0.0.1:9567"),
                             (Endpoint{"127.0.0.1", 9567}).toString());
        CPPUNIT_ASSERT_EQUAL(std::string("[::1]:80"), (Endpoint{"::1", 80}).toString());
        CPPUNIT_ASSERT_EQUAL(std::string("0.0.0.0:1"), parseEndpoint(":1").toString());
        CPPUNIT_ASSERT(parseEndpoint(parseEndpoint("[fe80::1]:5").toString()) ==
                       (Endpoint{"fe80::1", 5}));
    }

    void testIpv6EndpointInFile() {
        CPPUNIT_ASSERT(load("server:\n  tcp: \"[::1]:5\"\n").server.tcp == (Endpoint{"::1", 5}));
        CPPUNIT_ASSERT(load("server:\n  tcp: :5\n").server.tcp == (Endpoint{"0.0.0.0", 5}));
        assertError(loadError("server:\n\n  tcp: ::1:5\n"),
                    kFile + ":3: server.tcp: ", "must be in brackets");
    }

    void testSizes() {
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(2097152), parseSize("2MiB", 0, ~0ULL));
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(524288), parseSize("512KiB", 0, ~0ULL));
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(524288), parseSize("512 KiB", 0, ~0ULL));
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(1073741824), parseSize("1GiB", 0, ~0ULL));
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(4096), parseSize("4096", 0, ~0ULL));
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(4096), parseSize("4096B", 0, ~0ULL));
        CPPUNIT_ASSERT_EQUAL(std::string("2MiB"), formatSize(2097152));
        CPPUNIT_ASSERT_EQUAL(std::string("1000B"), formatSize(1000));
        CPPUNIT_ASSERT_EQUAL(std::string("0B"), formatSize(0));
        CPPUNIT_ASSERT_EQUAL(std::size_t(3 * 1024 * 1024),
                             load("server:\n  max_frame_bytes: 3MiB\n").server.maxFrameBytes);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1234567),
                             load("server:\n  max_frame_bytes: 1234567\n").server.maxFrameBytes);
    }

    void testSizeErrors() {
        const char* bad[] = {
            "2MB",           "2 mib", "MiB", "-1", "1.5MiB", "2MiB extra", "99999999999999999999",
            "17179869184GiB"};
        for (const char* text : bad) {
            CPPUNIT_ASSERT_THROW_MESSAGE(text, parseSize(text, 0, ~0ULL), std::invalid_argument);
        }
        CPPUNIT_ASSERT_THROW(parseSize("2GiB", 0, 1ULL << 30), std::invalid_argument);
        assertError(loadError("server:\n  max_frame_bytes: 2GiB\n"),
                    kFile + ":2: server.max_frame_bytes: ", "1KiB..1GiB");
    }

    void testDurations() {
        using T = TimeUnit;
        CPPUNIT_ASSERT_EQUAL(std::int64_t(250), parseDuration("250", T::Milliseconds, 0, 1e9));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(250), parseDuration("250ms", T::Milliseconds, 0, 1e9));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(2000), parseDuration("2s", T::Milliseconds, 0, 1e9));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(2000), parseDuration("2 s", T::Milliseconds, 0, 1e9));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(60000), parseDuration("1m", T::Milliseconds, 0, 1e9));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(3600000), parseDuration("1h", T::Milliseconds, 0, 1e9));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(30), parseDuration("30", T::Seconds, 0, 1e9));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(3), parseDuration("3000ms", T::Seconds, 0, 1e9));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(7200), parseDuration("2h", T::Seconds, 0, 1e9));
        CPPUNIT_ASSERT_THROW(parseDuration("1500ms", T::Seconds, 0, 1e9), std::invalid_argument);
        CPPUNIT_ASSERT_THROW(parseDuration("5d", T::Seconds, 0, 1e9), std::invalid_argument);
        CPPUNIT_ASSERT_THROW(parseDuration("ms", T::Seconds, 0, 1e9), std::invalid_argument);
        CPPUNIT_ASSERT_THROW(parseDuration("11", T::Seconds, 0, 10), std::invalid_argument);
        CPPUNIT_ASSERT_THROW(parseDuration("9999999999999999999h", T::Milliseconds, 0, 1e9),
                             std::invalid_argument);
        CPPUNIT_ASSERT_EQUAL(90, load("queue:\n  retry_backoff_ms: 90\n").queue.retryBackoffMs);
        assertError(loadError("mysql:\n  connect_timeout_sec: 2h\n"),
                    kFile + ":2: mysql.connect_timeout_sec: ", "1..3600 seconds");
    }

    void testIntegersAndBools() {
        CPPUNIT_ASSERT_EQUAL(std::int64_t(-3), parseInteger("-3", -5, 5));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(5), parseInteger("5", -5, 5));
        const char* bad[] = {"", "+1", "0x10", "1e3", " 1", "6", "-6", "99999999999999999999"};
        for (const char* text : bad) {
            CPPUNIT_ASSERT_THROW_MESSAGE(text, parseInteger(text, -5, 5), std::invalid_argument);
        }
        CPPUNIT_ASSERT(parseBool("true") && parseBool("True") && parseBool("TRUE"));
        CPPUNIT_ASSERT(!parseBool("false") && !parseBool("False") && !parseBool("FALSE"));
        const char* badBools[] = {"yes", "no", "on", "1", "0", "tRue", ""};
        for (const char* text : badBools) {
            CPPUNIT_ASSERT_THROW_MESSAGE(text, parseBool(text), std::invalid_argument);
        }
    }

    void testLogLevels() {
        const char* levels[] = {"trace", "debug",    "information", "notice", "warning",
                                "error", "critical", "fatal",       "none"};
        for (const char* level : levels) {
            CPPUNIT_ASSERT_EQUAL(
                std::string(level),
                load(std::string("server:\n  log_level: ") + level + "\n").server.logLevel);
        }
        assertError(loadError("server:\n  log_level: info\n"),
                    kFile + ":2: server.log_level: ", "expected one of");
    }

    void testLogFormatAndEventRate() {
        Config d = load("");
        CPPUNIT_ASSERT_EQUAL(std::string("text"), d.server.logFormat);
        CPPUNIT_ASSERT_EQUAL(100, d.server.logEventsPerSec);
        Config c = load("server:\n  log_format: json\n  log_events_per_sec: 0\n");
        CPPUNIT_ASSERT_EQUAL(std::string("json"), c.server.logFormat);
        CPPUNIT_ASSERT_EQUAL(0, c.server.logEventsPerSec);
        assertError(loadError("server:\n  log_format: yaml\n"), kFile + ":2: server.log_format: ",
                    "expected one of text, json");
        assertError(loadError("server:\n  log_events_per_sec: -1\n"), kFile + ":2: server.log_events_per_sec: ");
        CPPUNIT_ASSERT_EQUAL(std::string("json"),
                             load("server:\n  log_format: text\n", {{"DORAHOST_LOG_FORMAT", "json"}}).server.logFormat);
        assertError(loadError("", {{"DORAHOST_LOG_FORMAT", "xml"}}), "environment variable DORAHOST_LOG_FORMAT: ",
                    "expected one of");
    }

    void testRegistrySection() {
        Config c = load("registry:\n  enabled: false\n  groups: [api, 'batch.v2', x-1]\n"
                        "  interval_sec: 2s\n  advertise: 10.1.2.3:9000\n");
        CPPUNIT_ASSERT(!c.registry.enabled);
        CPPUNIT_ASSERT(c.registry.groups == (std::vector<std::string>{"api", "batch.v2", "x-1"}));
        CPPUNIT_ASSERT_EQUAL(2, c.registry.intervalSec);
        CPPUNIT_ASSERT_EQUAL(std::string("10.1.2.3"), c.registry.advertise.host);
        CPPUNIT_ASSERT_EQUAL(std::uint16_t(9000), c.registry.advertise.port);
        c = load("registry:\n  groups: solo\n");
        CPPUNIT_ASSERT(c.registry.groups == std::vector<std::string>{"solo"});
        c = load("registry:\n  advertise: 10.1.2.3:9000\n",
                 {{"DORAHOST_REGISTRY_ENABLED", "false"},
                  {"DORAHOST_REGISTRY_GROUPS", "a,b"},
                  {"DORAHOST_REGISTRY_INTERVAL_SEC", "3"},
                  {"DORAHOST_REGISTRY_ADVERTISE", ""},
                  {"DORAHOST_SHUTDOWN_TIMEOUT_SEC", "5"},
                  {"DORAHOST_CLAIM_IDLE_MS", "250"}});
        CPPUNIT_ASSERT(!c.registry.enabled);
        CPPUNIT_ASSERT(c.registry.groups == (std::vector<std::string>{"a", "b"}));
        CPPUNIT_ASSERT_EQUAL(3, c.registry.intervalSec);
        CPPUNIT_ASSERT_EQUAL(std::string(), c.registry.advertise.host);
        CPPUNIT_ASSERT_EQUAL(5, c.server.shutdownTimeoutSec);
        CPPUNIT_ASSERT_EQUAL(250, c.queue.claimIdleMs);
        assertError(loadError("", {{"DORAHOST_REGISTRY_GROUPS", "a,,b"}}),
                    "environment variable DORAHOST_REGISTRY_GROUPS: ", "expected a group name");
        assertError(loadError("", {{"DORAHOST_REGISTRY_ADVERTISE", ":9567"}}),
                    "environment variable DORAHOST_REGISTRY_ADVERTISE: ", "the wildcard");
    }

    void testSentinelAndReplicasAck() {
        Config c = load("redis:\n  sentinels: [10.0.0.1:26379, 'sentinel-2:26380', \"[::1]:26381\"]\n"
                        "  master_name: mymaster\nqueue:\n  replicas_ack: 1\n  replicas_ack_timeout_ms: 2s\n");
        CPPUNIT_ASSERT_EQUAL(std::size_t(3), c.redis.sentinels.size());
        CPPUNIT_ASSERT_EQUAL(std::string("sentinel-2"), c.redis.sentinels[1].host);
        CPPUNIT_ASSERT_EQUAL(std::uint16_t(26381), c.redis.sentinels[2].port);
        CPPUNIT_ASSERT_EQUAL(std::string("mymaster"), c.redis.masterName);
        CPPUNIT_ASSERT_EQUAL(1, c.queue.replicasAck);
        CPPUNIT_ASSERT_EQUAL(2000, c.queue.replicasAckTimeoutMs);
        c = load("redis:\n  sentinels: 10.0.0.1:26379\n  master_name: m\n");
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), c.redis.sentinels.size());
        c = load("", {{"DORAHOST_REDIS_SENTINELS", "a:1,b:2"}, {"DORAHOST_REDIS_MASTER_NAME", "m"}});
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), c.redis.sentinels.size());
        CPPUNIT_ASSERT_EQUAL(std::string("b"), c.redis.sentinels[1].host);
        c = load("redis:\n  sentinels: [a:1]\n  master_name: m\n", {{"DORAHOST_REDIS_SENTINELS", ""}});
        CPPUNIT_ASSERT(c.redis.sentinels.empty());
        CPPUNIT_ASSERT_EQUAL(0, load("").queue.replicasAck);
        assertError(loadError("redis:\n  sentinels: [a:1]\n"), kFile + ":2: ", "needs redis.master_name");
        assertError(loadError("redis:\n  sentinels: [':26379']\n  master_name: m\n"), kFile + ":2: ",
                    "no host to connect to");
        assertError(loadError("redis:\n  sentinels: [a:0]\n  master_name: m\n"), kFile + ":2: ", "port 0");
        assertError(loadError("redis:\n  master_name: 'a b'\n"), kFile + ":2: ", "master name");
        assertError(loadError("queue:\n  replicas_ack: -1\n"), kFile + ":2: ", "replicas_ack");
        assertError(loadError("queue:\n  replicas_ack_timeout_ms: 0\n"), kFile + ":2: ", "replicas_ack_timeout_ms");
        assertError(loadError("", {{"DORAHOST_REDIS_SENTINELS", "a:1"}}),
                    "environment variable DORAHOST_REDIS_SENTINELS: ", "DORAHOST_REDIS_MASTER_NAME");
        assertError(loadError("redis:\n  sentinels: [a:1]\n  master_name: m\n", {{"DORAHOST_REDIS_MASTER_NAME", ""}}),
                    "environment variable DORAHOST_REDIS_MASTER_NAME: ", "needs redis.master_name");
        assertError(loadError("", {{"DORAHOST_REDIS_SENTINELS", "a:1,,b:2"}}),
                    "environment variable DORAHOST_REDIS_SENTINELS: ", "expected");
    }

    void testShippedDefaultConfig() {
        const char* env = std::getenv("DORA_SOURCE_DIR");
        const std::string src = env ? env : "";
        CPPUNIT_ASSERT_MESSAGE("DORA_SOURCE_DIR not set (run through ctest)", !src.empty());
        std::string path = src + "/config/dorahost.yaml";
        Config c = loadConfig(path, {});
        std::string dir = fs::path(path).lexically_normal().parent_path().string();

        // The shipped file spells out the built-in defaults, except for the
        // dev database settings and the plugin folders (docs/config.md).
        Config expected = load("");
        expected.mysql.port = 13306;
        expected.mysql.password = "dora";
        expected.plugins.pluginsDir =
            (fs::path(dir) / "../../lib/dorahost/plugins").lexically_normal().string();
        expected.plugins.routesDir = dir + "/routes.d";

        const ServerConfig& s = c.server;
        const ServerConfig& e = expected.server;
        CPPUNIT_ASSERT(s.tcp == e.tcp);
        CPPUNIT_ASSERT(s.http == e.http);
        CPPUNIT_ASSERT_EQUAL(e.httpEnabled, s.httpEnabled);
        CPPUNIT_ASSERT_EQUAL(e.ioThreads, s.ioThreads);
        CPPUNIT_ASSERT_EQUAL(e.taskWorkers, s.taskWorkers);
        CPPUNIT_ASSERT_EQUAL(e.maxFrameBytes, s.maxFrameBytes);
        CPPUNIT_ASSERT_EQUAL(e.maxQueuedTasks, s.maxQueuedTasks);
        CPPUNIT_ASSERT_EQUAL(e.maxCallsPerRequest, s.maxCallsPerRequest);
        CPPUNIT_ASSERT_EQUAL(e.maxInflightPerConnection, s.maxInflightPerConnection);
        CPPUNIT_ASSERT_EQUAL(e.idleTimeoutSec, s.idleTimeoutSec);
        CPPUNIT_ASSERT_EQUAL(e.httpReceiveTimeoutSec, s.httpReceiveTimeoutSec);
        CPPUNIT_ASSERT_EQUAL(e.logLevel, s.logLevel);
        CPPUNIT_ASSERT_EQUAL(expected.protocol.signature, c.protocol.signature);
        CPPUNIT_ASSERT_EQUAL(expected.protocol.salt, c.protocol.salt);
        CPPUNIT_ASSERT_EQUAL(expected.protocol.gzip, c.protocol.gzip);
        CPPUNIT_ASSERT_EQUAL(expected.mysql.host, c.mysql.host);
        CPPUNIT_ASSERT_EQUAL(expected.mysql.port, c.mysql.port);
        CPPUNIT_ASSERT_EQUAL(expected.mysql.user, c.mysql.user);
        CPPUNIT_ASSERT_EQUAL(expected.mysql.password, c.mysql.password);
        CPPUNIT_ASSERT_EQUAL(expected.mysql.database, c.mysql.database);
        CPPUNIT_ASSERT_EQUAL(expected.mysql.connectTimeoutSec, c.mysql.connectTimeoutSec);
        CPPUNIT_ASSERT_EQUAL(expected.mysql.readTimeoutSec, c.mysql.readTimeoutSec);
        CPPUNIT_ASSERT_EQUAL(expected.mysql.writeTimeoutSec, c.mysql.writeTimeoutSec);
        CPPUNIT_ASSERT_EQUAL(expected.redis.socket, c.redis.socket);
        CPPUNIT_ASSERT_EQUAL(expected.redis.host, c.redis.host);
        CPPUNIT_ASSERT_EQUAL(expected.redis.port, c.redis.port);
        CPPUNIT_ASSERT_EQUAL(expected.redis.connectTimeoutMs, c.redis.connectTimeoutMs);
        CPPUNIT_ASSERT_EQUAL(expected.redis.handlerConnections, c.redis.handlerConnections);
        CPPUNIT_ASSERT_EQUAL(expected.queue.stream, c.queue.stream);
        CPPUNIT_ASSERT_EQUAL(expected.queue.group, c.queue.group);
        CPPUNIT_ASSERT_EQUAL(expected.queue.deadLetterStream, c.queue.deadLetterStream);
        CPPUNIT_ASSERT_EQUAL(expected.queue.nodeId, c.queue.nodeId);
        CPPUNIT_ASSERT_EQUAL(expected.queue.batchSize, c.queue.batchSize);
        CPPUNIT_ASSERT_EQUAL(expected.queue.batchLatencyMs, c.queue.batchLatencyMs);
        CPPUNIT_ASSERT_EQUAL(expected.queue.maxRetries, c.queue.maxRetries);
        CPPUNIT_ASSERT_EQUAL(expected.queue.retryBackoffMs, c.queue.retryBackoffMs);
        CPPUNIT_ASSERT_EQUAL(expected.queue.claimIdleMs, c.queue.claimIdleMs);
        CPPUNIT_ASSERT_EQUAL(expected.server.shutdownTimeoutSec, c.server.shutdownTimeoutSec);
        CPPUNIT_ASSERT(expected.registry.groups == c.registry.groups);
        CPPUNIT_ASSERT_EQUAL(expected.registry.enabled, c.registry.enabled);
        CPPUNIT_ASSERT_EQUAL(expected.registry.intervalSec, c.registry.intervalSec);
        CPPUNIT_ASSERT_EQUAL(expected.registry.advertise.host, c.registry.advertise.host);
        CPPUNIT_ASSERT_EQUAL(expected.queue.statusTtlSec, c.queue.statusTtlSec);
        CPPUNIT_ASSERT_EQUAL(expected.queue.replicasAck, c.queue.replicasAck);
        CPPUNIT_ASSERT_EQUAL(expected.queue.replicasAckTimeoutMs, c.queue.replicasAckTimeoutMs);
        CPPUNIT_ASSERT(c.redis.sentinels.empty());
        CPPUNIT_ASSERT_EQUAL(expected.redis.masterName, c.redis.masterName);
        CPPUNIT_ASSERT_EQUAL(expected.plugins.pluginsDir, c.plugins.pluginsDir);
        CPPUNIT_ASSERT_EQUAL(expected.plugins.routesDir, c.plugins.routesDir);
        CPPUNIT_ASSERT_EQUAL(expected.control.token, c.control.token);
        CPPUNIT_ASSERT_EQUAL(expected.server.signing.key, c.server.signing.key);
        CPPUNIT_ASSERT_EQUAL(expected.server.signing.required, c.server.signing.required);
        CPPUNIT_ASSERT_EQUAL(expected.server.signing.replayWindowSec, c.server.signing.replayWindowSec);
        CPPUNIT_ASSERT_EQUAL(expected.server.signing.replayCache, c.server.signing.replayCache);

        // The file spells out every key of the schema (its indented key
        // lines, counted against the number of keys per section).
        std::string text = readFileText(path);
        int keys = 0;
        std::size_t pos = 0;
        while ((pos = text.find("\n  ", pos)) != std::string::npos) {
            ++pos;
            if (text[pos + 2] != '#' && text[pos + 2] != ' ') ++keys;
        }
        // server: 20 (signing's own keys are indented deeper); redis: every
        // key but sentinels, a commented-out example (a list has no empty form).
        CPPUNIT_ASSERT_EQUAL(20 + 3 + 8 + 6 + 12 + 4 + 2 + 1, keys);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ConfigTest);
