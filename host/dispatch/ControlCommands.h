// dispatch/ControlCommands.h — the control commands (SC / `/server/cmd`:
// getStat, reloadTask and those the server adds), answered in one place for
// every front end, and refused there without the control token when one is
// configured (control.token). They run
// on a thread of their own: never on an I/O thread (a reload loads plugins,
// getStat walks every counter) and never behind handlers in the task pool.
// Reloads coalesce: every reloadTask waiting while one runs is answered by
// the next reload's outcome, so a client pipelining reloads cannot make the
// host reload more often than one at a time.
#pragma once

#include "stats/EventLog.h"

#include <dora/sdk/value.h>

#include <condition_variable>
#include <deque>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
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
    /// Further commands by name; each receives the command's `param`
    /// (null when none was sent).
    std::map<std::string, std::function<ControlAnswer(const dora::sdk::Value& param)>> commands;
};

/// A command as a front end received it.
struct ControlRequest {
    std::string name;
    std::string params; ///< PHP-serialized `param` (empty: none)
    std::string bearer; ///< HTTP: the Authorization: Bearer credential, if any
    std::string peer;   ///< for the log of a refusal
};

class ControlCommands {
public:
    using Done = std::function<void(ControlAnswer)>;

    /// token: control.token; empty = every command is served to anyone.
    explicit ControlCommands(ControlHooks hooks, std::string token = {}, std::size_t maxWaiting = 1024);
    ~ControlCommands(); ///< answers what waits, then joins
    ControlCommands(const ControlCommands&) = delete;
    ControlCommands& operator=(const ControlCommands&) = delete;

    /// Runs command `cmd` on the control thread and calls done (on that
    /// thread) with its answer; when too many commands wait, done is
    /// called at once with kBusy. Thread-safe.
    void submit(ControlRequest cmd, Done done);
    /// submit, then wait for the answer (for front ends that block anyway).
    ControlAnswer execute(ControlRequest cmd);

    /// True when no token is configured or `presented` is it (compared in
    /// constant time). Thread-safe.
    bool authorized(std::string_view presented) const;
    bool tokenRequired() const { return !_token.empty(); }
    /// The refusal of a request without the right token (logged as an
    /// event: rate-limited).
    ControlAnswer refuse(const std::string& what, const std::string& peer);
    /// Where refusals are logged (the host's; by default one of its own).
    /// Set before serving.
    void setEventLog(stats::EventLog* log) { _events = log ? log : &_ownEvents; }

private:
    struct Waiting {
        ControlRequest cmd;
        dora::sdk::Value param;
        bool allowed = false;
        Done done;
    };
    void run();
    void prepare(Waiting& w) const;
    ControlAnswer answer(const Waiting& w);

    ControlHooks _hooks;
    const std::string _token;
    const std::size_t _maxWaiting;
    std::mutex _mutex;
    std::condition_variable _cv;
    std::deque<Waiting> _waiting;
    stats::EventLog _ownEvents;
    stats::EventLog* _events = &_ownEvents;
    bool _stopping = false;
    std::thread _thread;
};

} // namespace dora::dispatch
