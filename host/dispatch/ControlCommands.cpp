#include "dispatch/ControlCommands.h"

#include "protocol/Codes.h"

#include <pthread.h>

#include <future>
#include <vector>

namespace dora::dispatch {

using dora::sdk::Value;
namespace code = protocol::code;

ControlCommands::ControlCommands(ControlHooks hooks, std::size_t maxWaiting)
    : _hooks(std::move(hooks)), _maxWaiting(maxWaiting), _thread([this] { run(); }) {}

ControlCommands::~ControlCommands() {
    {
        std::lock_guard<std::mutex> lock(_mutex);
        _stopping = true;
    }
    _cv.notify_one();
    _thread.join();
}

void ControlCommands::submit(const std::string& cmd, Done done) {
    {
        std::lock_guard<std::mutex> lock(_mutex);
        if (!_stopping && _waiting.size() < _maxWaiting) {
            _waiting.emplace_back(cmd, std::move(done));
            _cv.notify_one();
            return;
        }
    }
    done(ControlAnswer{code::kBusy, "server busy: too many control commands waiting, try again", Value()});
}

ControlAnswer ControlCommands::execute(const std::string& cmd) {
    std::promise<ControlAnswer> answered;
    auto answer = answered.get_future();
    submit(cmd, [&answered](ControlAnswer a) { answered.set_value(std::move(a)); });
    return answer.get();
}

ControlAnswer ControlCommands::answer(const std::string& cmd) {
    if (cmd == "getStat") {
        Value data = Value::array();
        data.set("server", _hooks.stats ? _hooks.stats() : Value::array());
        return ControlAnswer{code::kOk, "OK", std::move(data)};
    }
    if (cmd == "reloadTask" && _hooks.reload) {
        auto [c, msg] = _hooks.reload();
        Value data = Value::array();
        data.set("reload", msg);
        return ControlAnswer{c, c == 0 ? std::string("OK") : msg, std::move(data)};
    }
    return ControlAnswer{code::kUnknownCommand, "unknow cmd", Value()};
}

void ControlCommands::run() {
    pthread_setname_np(pthread_self(), "dora-control");
    std::unique_lock<std::mutex> lock(_mutex);
    for (;;) {
        _cv.wait(lock, [this] { return _stopping || !_waiting.empty(); });
        if (_waiting.empty()) return; // stopping, nothing left
        auto [cmd, done] = std::move(_waiting.front());
        _waiting.pop_front();
        // Every reload waiting now is answered by this one: they all asked
        // for the plugins on disk, and this reload reads them after they
        // asked.
        std::vector<Done> alsoReload;
        if (cmd == "reloadTask") {
            for (auto it = _waiting.begin(); it != _waiting.end();) {
                if (it->first == "reloadTask") {
                    alsoReload.push_back(std::move(it->second));
                    it = _waiting.erase(it);
                } else {
                    ++it;
                }
            }
        }
        lock.unlock();
        ControlAnswer a = answer(cmd);
        for (auto& d : alsoReload) d(a);
        done(std::move(a));
        lock.lock();
    }
}

} // namespace dora::dispatch
