#include "dispatch/ControlCommands.h"

#include "protocol/Codes.h"

#include <dora/sdk/serialize.h>

#include <Poco/Logger.h>

#include <pthread.h>

#include <future>
#include <vector>

namespace dora::dispatch {

using dora::sdk::Value;
namespace code = protocol::code;

ControlCommands::ControlCommands(ControlHooks hooks, std::string token, std::size_t maxWaiting)
    : _hooks(std::move(hooks)), _token(std::move(token)), _maxWaiting(maxWaiting), _thread([this] { run(); }) {}

ControlCommands::~ControlCommands() {
    {
        std::lock_guard<std::mutex> lock(_mutex);
        _stopping = true;
    }
    _cv.notify_one();
    _thread.join();
}

bool ControlCommands::authorized(std::string_view presented) const {
    if (_token.empty()) return true;
    // Constant time in the token's length: the answer's timing says
    // nothing about how much of a guess was right.
    unsigned char diff = presented.size() == _token.size() ? 0 : 1;
    for (std::size_t i = 0; i < _token.size(); ++i)
        diff |= static_cast<unsigned char>(_token[i] ^ (i < presented.size() ? presented[i] : 0));
    return diff == 0;
}

ControlAnswer ControlCommands::refuse(const std::string& what, const std::string& peer) {
    ControlAnswer a{code::kUnauthorized,
                    "unauthorized: '" + what +
                        "' needs the control token (control.token): send it as param 'token' "
                        "(or Authorization: Bearer over HTTP)",
                    Value()};
    _events->refused({}, what, a.code, peer, a.msg);
    return a;
}

void ControlCommands::prepare(Waiting& w) const {
    if (!w.cmd.params.empty()) {
        try {
            w.param = dora::sdk::unserialize(w.cmd.params);
        } catch (const std::exception&) { // NOLINT(bugprone-empty-catch): a bad param is no param
        }
    }
    std::string_view presented = w.cmd.bearer;
    if (presented.empty() && w.param.isArray())
        if (const Value* t = w.param.find("token"); t && t->isString()) presented = t->asString();
    w.allowed = authorized(presented);
}

void ControlCommands::submit(ControlRequest cmd, Done done) {
    Waiting w{std::move(cmd), Value(), false, std::move(done)};
    {
        std::lock_guard<std::mutex> lock(_mutex);
        if (!_stopping && _waiting.size() < _maxWaiting) {
            _waiting.push_back(std::move(w));
            _cv.notify_one();
            return;
        }
    }
    w.done(ControlAnswer{code::kBusy, "server busy: too many control commands waiting, try again", Value()});
}

ControlAnswer ControlCommands::execute(ControlRequest cmd) {
    std::promise<ControlAnswer> answered;
    auto answer = answered.get_future();
    submit(std::move(cmd), [&answered](ControlAnswer a) { answered.set_value(std::move(a)); });
    return answer.get();
}

ControlAnswer ControlCommands::answer(const Waiting& w) {
    const std::string& cmd = w.cmd.name;
    if (!w.allowed) return refuse(cmd, w.cmd.peer);
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
    if (auto it = _hooks.commands.find(cmd); it != _hooks.commands.end()) {
        try {
            return it->second(w.param);
        } catch (const std::exception& e) {
            return ControlAnswer{code::kHandlerFailed, "'" + cmd + "' failed: " + e.what(), Value()};
        }
    }
    return ControlAnswer{code::kUnknownCommand, "unknow cmd", Value()};
}

void ControlCommands::run() {
    pthread_setname_np(pthread_self(), "dora-control");
    std::unique_lock<std::mutex> lock(_mutex);
    for (;;) {
        _cv.wait(lock, [this] { return _stopping || !_waiting.empty(); });
        if (_waiting.empty()) return; // stopping, nothing left
        Waiting w = std::move(_waiting.front());
        _waiting.pop_front();
        prepare(w);
        // Every authorized reload waiting now is answered by this one: they
        // all asked for the plugins on disk, and this reload reads them after
        // they asked. One without the token is refused on its own turn.
        std::vector<Done> alsoReload;
        if (w.allowed && w.cmd.name == "reloadTask") {
            for (auto it = _waiting.begin(); it != _waiting.end();) {
                if (it->cmd.name == "reloadTask") {
                    prepare(*it);
                    if (it->allowed) {
                        alsoReload.push_back(std::move(it->done));
                        it = _waiting.erase(it);
                        continue;
                    }
                }
                ++it;
            }
        }
        lock.unlock();
        ControlAnswer a = answer(w);
        for (auto& d : alsoReload) d(a);
        w.done(std::move(a));
        lock.lock();
    }
}

} // namespace dora::dispatch
