// dispatch/ControlCommands.h — the control commands (SC / `/server/cmd`:
// getStat, reloadTask), answered in one place for every front end. They run
// on a thread of their own: never on an I/O thread (a reload loads plugins,
// getStat walks every counter) and never behind handlers in the task pool.
// Reloads coalesce: every reloadTask waiting while one runs is answered by
// the next reload's outcome, so a client pipelining reloads cannot make the
// host reload more often than one at a time.
#pragma once

#include <dora/sdk/value.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

namespace dora::dispatch {

struct ControlAnswer {
    int code = 0;
    std::string msg;
    dora::sdk::Value data; ///< null: an empty array
};

/// What the commands need from the server, passed in by whoever wires it.
struct ControlHooks {
    /// getStat's data => ["server" => ...].
    std::function<dora::sdk::Value()> stats;
    /// reloadTask: returns code (0 or an error code) and a message.
    std::function<std::pair<int, std::string>()> reload;
};

class ControlCommands {
public:
    using Done = std::function<void(ControlAnswer)>;

    explicit ControlCommands(ControlHooks hooks, std::size_t maxWaiting = 1024);
    ~ControlCommands(); ///< answers what waits, then joins
    ControlCommands(const ControlCommands&) = delete;
    ControlCommands& operator=(const ControlCommands&) = delete;

    /// Runs command `cmd` on the control thread and calls done (on that
    /// thread) with its answer; when too many commands wait, done is
    /// called at once with kBusy. Thread-safe.
    void submit(const std::string& cmd, Done done);
    /// submit, then wait for the answer (for front ends that block anyway).
    ControlAnswer execute(const std::string& cmd);

private:
    void run();
    ControlAnswer answer(const std::string& cmd);

    ControlHooks _hooks;
    const std::size_t _maxWaiting;
    std::mutex _mutex;
    std::condition_variable _cv;
    std::deque<std::pair<std::string, Done>> _waiting;
    bool _stopping = false;
    std::thread _thread;
};

} // namespace dora::dispatch
