// tests/sdk/LockOrderTest.cpp — the samples' batch writes
// (dora_samples/user_writes.h) group a batch's tasks by name with
// distinctInLockOrder: each name once (byte for byte), with its first and
// last task and count, in the order every handler locks rows in. Checked
// against the map-and-sortForLocking way the handlers grouped them before,
// on batches with repeated names and names that differ only in case.
#include <dora_samples/user_writes.h>

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <random>
#include <string>
#include <unordered_map>
#include <vector>

using namespace dora::samples::users;

namespace {

/// What the handlers computed before: distinct names in first-seen order,
/// each ranked by the call of its first (or last) task, then sortForLocking.
std::vector<std::string> mapsAndSort(const std::vector<Task>& tasks, bool rankByLast) {
    std::unordered_map<std::string, std::size_t> rank;
    std::vector<std::string> names;
    for (const Task& t : tasks) {
        auto [it, fresh] = rank.try_emplace(t.name, t.call);
        if (fresh)
            names.push_back(t.name);
        else if (rankByLast)
            it->second = t.call;
    }
    sortForLocking(names, rank);
    return names;
}

std::vector<Task> batchOf(const std::vector<std::string>& names) {
    std::vector<Task> tasks;
    for (std::size_t i = 0; i < names.size(); ++i)
        tasks.push_back(Task{i * 2 + 1, names[i], "d" + std::to_string(i)}); // calls need not be 0..n-1
    return tasks;
}

void check(const std::vector<Task>& tasks, bool rankByLast) {
    std::vector<std::size_t> firstOf;
    const std::vector<Named> got = distinctInLockOrder(tasks, rankByLast, &firstOf);
    const std::vector<std::string> want = mapsAndSort(tasks, rankByLast);
    CPPUNIT_ASSERT_EQUAL(want.size(), got.size());
    for (std::size_t k = 0; k < want.size(); ++k) {
        CPPUNIT_ASSERT_EQUAL(want[k], std::string(got[k].name));
        std::size_t first = tasks.size(), last = 0, count = 0;
        for (std::size_t i = 0; i < tasks.size(); ++i)
            if (tasks[i].name == want[k]) {
                if (first == tasks.size()) first = i;
                last = i;
                ++count;
            }
        CPPUNIT_ASSERT_EQUAL(first, got[k].first);
        CPPUNIT_ASSERT_EQUAL(last, got[k].last);
        CPPUNIT_ASSERT_EQUAL(count, got[k].count);
    }
    for (std::size_t i = 0; i < tasks.size(); ++i) {
        std::size_t first = 0;
        while (tasks[first].name != tasks[i].name) ++first;
        CPPUNIT_ASSERT_EQUAL(first, firstOf[i]);
    }
}

} // namespace

class LockOrderTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(LockOrderTest);
    CPPUNIT_TEST(testCompareFoldedIsLowercasedOrder);
    CPPUNIT_TEST(testSpellingsAndRepeats);
    CPPUNIT_TEST(testRandomBatchesMatchTheMapsAndSort);
    CPPUNIT_TEST_SUITE_END();

public:
    void testCompareFoldedIsLowercasedOrder() {
        const std::vector<std::string> words = {"", "a", "A", "ab", "aB", "b", "Z", "z", "_", "[", "\xc3\xa9", "\x7f",
                                                "NO1", "no10", "No2"};
        for (const auto& a : words)
            for (const auto& b : words) {
                const std::string la = asciiLower(a), lb = asciiLower(b);
                const int want = la < lb ? -1 : lb < la ? 1 : 0;
                CPPUNIT_ASSERT_EQUAL_MESSAGE(a + " vs " + b, want, compareFolded(a, b));
            }
    }

    void testSpellingsAndRepeats() {
        const std::vector<Task> tasks = batchOf({"bob", "Bob", "alice", "BOB", "bob", "carol", "Alice", "bob"});
        check(tasks, false);
        check(tasks, true);
        const std::vector<Named> byFirst = distinctInLockOrder(tasks, false);
        // alice (task 2) before Alice (task 6); of bob's spellings bob (0), Bob (1), BOB (3).
        std::vector<std::string> names;
        for (const Named& n : byFirst)
            names.emplace_back(n.name);
        CPPUNIT_ASSERT(names == (std::vector<std::string>{"alice", "Alice", "bob", "Bob", "BOB", "carol"}));
        // Ranked by the last task: bob's last is task 7, after Bob (1) and BOB (3).
        names.clear();
        for (const Named& n : distinctInLockOrder(tasks, true))
            names.emplace_back(n.name);
        CPPUNIT_ASSERT(names == (std::vector<std::string>{"alice", "Alice", "Bob", "BOB", "bob", "carol"}));
        CPPUNIT_ASSERT(distinctInLockOrder({}, false).empty());
    }

    void testRandomBatchesMatchTheMapsAndSort() {
        std::mt19937 rng(7);
        const std::vector<std::string> pool = {"NO1", "no1", "No1", "NO10", "NO2", "x", "X", "xY", "Xy", "\xc3\x89", "\xc3\xa9", "_a"};
        for (int round = 0; round < 500; ++round) {
            std::vector<std::string> names(rng() % 40);
            for (auto& n : names)
                n = pool[rng() % pool.size()];
            const std::vector<Task> tasks = batchOf(names);
            check(tasks, false);
            check(tasks, true);
        }
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(LockOrderTest);
