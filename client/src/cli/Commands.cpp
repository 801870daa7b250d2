#include "cli/Commands.h"

#include <dora/client/Client.h>

#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

namespace dora::cli {

using dora::client::Client;
using dora::client::Mode;
using dora::client::Result;
using dora::sdk::Value;
namespace code = dora::client::code;

namespace {

const char* const kCallHelp =
    "usage: dora call [--async | --async-result] API [JSON] [client options]\n"
    "\n"
    "One call of API with the JSON parameters (default {}; '-' reads stdin).\n"
    "Sync (default): waits and prints the handler's result as JSON.\n"
    "  --async          async, no result (SRS / AN_S): prints \"accepted\" once the\n"
    "                   server has stored the call\n"
    "  --async-result   async with the result pushed later (AM_S): prints it\n"
    "Exit status: 0 on success, 1 when the answer carries an error code (the\n"
    "reason is printed on stderr) or no server answered, 2 on bad usage.\n"
    "\n";

const char* const kMultiHelp =
    "usage: dora multi [--async | --async-result] JSON [client options]\n"
    "\n"
    "Several calls at once (the server runs them concurrently). JSON is\n"
    "  {\"key\": {\"name\": API, \"param\": {...}}, ...}   ('-' reads stdin)\n"
    "Sync (default) prints {\"key\": result, ...}; a failed call shows as\n"
    "{\"code\": N, \"msg\": ...} and makes the exit status 1.\n"
    "  --async          async, no result (SRM / AN_M)\n"
    "  --async-result   async with one pushed result for all (AM_M)\n"
    "\n";

const char* const kStatHelp =
    "usage: dora stat [client options]\n"
    "\n"
    "The server's counters (control command getStat), one \"name: value\" per\n"
    "line, or the whole answer with --json.\n"
    "\n";

const char* const kReloadHelp =
    "usage: dora reload [client options]\n"
    "\n"
    "Reloads the server's plugins and routes (control command reloadTask).\n"
    "Exit status 1 if the server refused or the reload failed.\n"
    "\n";

const char* const kTaskHelp =
    "usage: dora task GUID [client options]\n"
    "\n"
    "What became of the async request GUID (control command taskStatus), asked\n"
    "of any host of the cluster: state queued, running (node, deliveries),\n"
    "retrying (attempts, last_error), applied (at, node) or dead_lettered\n"
    "(reason), with each call's outcome; one \"name: value\" per line, or the\n"
    "whole answer with --json. Exit status 1 when the guid is unknown.\n"
    "\n";

const char* const kDeadHelp =
    "usage: dora dead list [--count N] | show ID | redrive ID|all | purge ID|all\n"
    "                 [client options]\n"
    "\n"
    "The dead-letter stream (control commands deadList, deadShow, deadRedrive,\n"
    "deadPurge): list the letters (oldest first, at most N, default 100), show\n"
    "one with its calls, move one or all back into the task stream (a redriven\n"
    "task keeps its task ids: calls applied before it died are not applied\n"
    "again), or delete one or all.\n"
    "\n";

bool wantsHelp(ArgList& args, const char* text) {
    if (!args.flag({"-h", "--help"})) return false;
    std::cout << text << kClientOptionsHelp;
    return true;
}

std::string readArg(const std::string& arg) {
    if (arg != "-") return arg;
    std::string s((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    return s;
}

Value parseJsonArg(const std::string& what, const std::string& text) {
    try {
        return dora::client::fromJson(readArg(text));
    } catch (const std::exception& e) {
        throw UsageError(what + ": " + e.what());
    }
}

Mode takeMode(ArgList& args) {
    bool async = args.flag({"--async"});
    bool asyncResult = args.flag({"--async-result"});
    if (async && asyncResult) throw UsageError("--async and --async-result exclude each other");
    return async ? Mode::Async : asyncResult ? Mode::AsyncResult : Mode::Sync;
}

/// The one-line reason for a failed answer.
std::string reason(const Result& r) {
    if (r.code != code::kOk && r.code != code::kAccepted)
        return "error " + std::to_string(r.code) + " (" + dora::client::describeCode(r.code) +
               "): " + r.msg;
    for (const auto& c : r.calls) {
        if (c.code == 0) continue;
        std::string where = r.calls.size() > 1 || c.key != dora::sdk::Key("one")
                                ? " in call '" + c.key.toString() + "'"
                                : std::string();
        return "error " + std::to_string(c.code) + " (" + dora::client::describeCode(c.code) + ")" +
               where + ": " + c.msg;
    }
    return "unexpected answer";
}

Value callsValue(const Result& r) {
    Value out = Value::array();
    for (const auto& c : r.calls) {
        Value one = Value::array();
        one.set("code", c.code);
        one.set("msg", c.msg);
        one.set("data", c.data);
        out.set(c.key, std::move(one));
    }
    return out;
}

/// The --json document: the status, then what the command is about.
Value jsonDoc(const Result& r, const Value& data, bool withCalls) {
    Value doc = Value::array();
    int c = r.ok() ? r.code : r.errorCode();
    doc.set("code", c);
    std::string msg = r.msg;
    if (!r.ok() && r.code == code::kOk)
        for (const auto& call : r.calls)
            if (call.code != 0) {
                msg = call.msg;
                break;
            }
    doc.set("msg", msg);
    doc.set("guid", r.guid);
    doc.set("server", r.server);
    doc.set("data", data);
    if (withCalls) doc.set("calls", callsValue(r));
    return doc;
}

void printJson(const Value& v) { std::cout << dora::client::toJson(v) << "\n"; }

/// Waits for the pushed AM_* result of `accepted`.
Result awaitPushed(Client& client, const Result& accepted) {
    auto results = client.asyncResults(client.options().timeoutMs);
    auto it = results.find(accepted.guid);
    if (it != results.end()) return it->second;
    Result r;
    r.code = code::kClosedEarly;
    r.msg = "no async result arrived for guid " + accepted.guid;
    r.guid = accepted.guid;
    return r;
}

/// Shared by call and multi: send, print, choose the exit status.
int runRequest(const ClientFlags& flags, const dora::client::Request& req) {
    Client client(flags.options);
    Result r = client.execute(req);
    if (req.mode == Mode::AsyncResult && r.code == code::kAccepted) {
        if (!flags.json) std::cerr << "accepted (guid " << r.guid << "), waiting for the result\n";
        r = awaitPushed(client, r);
    }
    Value data;
    if (r.code == code::kOk && !req.multi && !r.calls.empty()) {
        data = r.calls.front().data;
    } else if (r.code == code::kOk && req.multi) {
        data = Value::array();
        for (const auto& c : r.calls) {
            if (c.code == 0) {
                data.set(c.key, c.data);
            } else {
                Value e = Value::array();
                e.set("code", c.code);
                e.set("msg", c.msg);
                data.set(c.key, std::move(e));
            }
        }
    }
    if (flags.json) {
        printJson(jsonDoc(r, data, req.multi));
    } else if (r.code == code::kAccepted) {
        std::cout << "accepted (guid " << r.guid << ")\n";
    } else if (r.code == code::kOk && (r.ok() || req.multi)) {
        printJson(data);
    }
    if (!r.ok()) {
        printError(reason(r));
        return 1;
    }
    return 0;
}

void printFlat(const std::string& prefix, const Value& v) {
    if (v.isArray()) {
        if (v.asArray().empty()) std::cout << prefix << ": []\n";
        for (const auto& e : v.asArray())
            printFlat(prefix.empty() ? e.key.toString() : prefix + "." + e.key.toString(), e.value);
        return;
    }
    std::string text = v.isString() ? v.asString() : dora::client::toJson(v);
    std::cout << prefix << ": " << text << "\n";
}

int runControl(ArgList& args, bool stat) {
    ClientFlags flags = takeClientFlags(args);
    auto pos = args.positional();
    if (!pos.empty()) throw UsageError("unexpected argument '" + pos.front() + "'");
    Client client(flags.options);
    Result r = stat ? client.getStat() : client.reloadTask();
    if (flags.json) {
        printJson(jsonDoc(r, r.data, false));
    } else if (r.code == code::kOk) {
        if (!stat) std::cout << "reload: " << r.msg << "\n";
        printFlat("", r.data);
    }
    if (r.code != code::kOk) {
        printError((stat ? "stat: " : "reload: ") + reason(r));
        return 1;
    }
    return 0;
}

} // namespace

void printError(const std::string& what) { std::cerr << "dora: " << what << std::endl; }

int runCall(ArgList& args) {
    if (wantsHelp(args, kCallHelp)) return 0;
    Mode mode = takeMode(args);
    ClientFlags flags = takeClientFlags(args);
    auto pos = args.positional();
    if (pos.empty()) throw UsageError("call: missing API name");
    if (pos.size() > 2) throw UsageError("call: unexpected argument '" + pos[2] + "'");
    Value param = pos.size() == 2 ? parseJsonArg("call: parameters", pos[1]) : Value::array();
    return runRequest(flags, dora::client::Request::single(pos[0], param, mode));
}

int runMulti(ArgList& args) {
    if (wantsHelp(args, kMultiHelp)) return 0;
    Mode mode = takeMode(args);
    ClientFlags flags = takeClientFlags(args);
    auto pos = args.positional();
    if (pos.empty()) throw UsageError("multi: missing the JSON object of calls");
    if (pos.size() > 1) throw UsageError("multi: unexpected argument '" + pos[1] + "'");
    Value calls = parseJsonArg("multi: calls", pos[0]);
    if (!calls.isArray() || calls.asArray().empty())
        throw UsageError(
            "multi: expected a non-empty object {\"key\": {\"name\": .., \"param\": ..}}");
    for (const auto& e : calls.asArray()) {
        const Value* name = e.value.find("name");
        if (!name || !name->isString() || name->asString().empty())
            throw UsageError("multi: call '" + e.key.toString() + "' has no \"name\"");
    }
    return runRequest(flags, dora::client::Request::multiple(calls, mode));
}

int runTask(ArgList& args) {
    if (wantsHelp(args, kTaskHelp)) return 0;
    ClientFlags flags = takeClientFlags(args);
    auto pos = args.positional();
    if (pos.empty()) throw UsageError("task: missing the request's GUID");
    if (pos.size() > 1) throw UsageError("task: unexpected argument '" + pos[1] + "'");
    Client client(flags.options);
    Value param = Value::array();
    param.set("guid", pos[0]);
    Result r = client.control("taskStatus", param);
    const Value* task = r.data.isArray() ? r.data.find("task") : nullptr;
    if (flags.json)
        printJson(jsonDoc(r, task ? *task : r.data, false));
    else if (r.code == code::kOk && task)
        printFlat("", *task);
    if (r.code != code::kOk) {
        printError("task: " + reason(r));
        return 1;
    }
    return 0;
}

int runDead(ArgList& args) {
    if (wantsHelp(args, kDeadHelp)) return 0;
    auto count = args.value({"--count"});
    ClientFlags flags = takeClientFlags(args);
    auto pos = args.positional();
    if (pos.empty()) throw UsageError("dead: missing list, show, redrive or purge");
    const std::string what = pos[0];
    Value param = Value::array();
    std::string cmd;
    if (what == "list") {
        if (pos.size() > 1) throw UsageError("dead list: unexpected argument '" + pos[1] + "'");
        if (count) param.set("count", parseInt("--count", *count, 1, 10000));
        cmd = "deadList";
    } else if (what == "show" || what == "redrive" || what == "purge") {
        if (pos.size() != 2) throw UsageError("dead " + what + ": expected one ID" + (what == "show" ? "" : " or all"));
        if (count) throw UsageError("--count goes with dead list only");
        param.set("id", pos[1]);
        cmd = what == "show" ? "deadShow" : what == "redrive" ? "deadRedrive" : "deadPurge";
    } else {
        throw UsageError("dead: unknown subcommand '" + what + "' (list, show, redrive, purge)");
    }
    Client client(flags.options);
    Result r = client.control(cmd, param);
    if (flags.json) {
        printJson(jsonDoc(r, r.data, false));
    } else if (r.code == code::kOk) {
        if (what == "list") {
            const Value* total = r.data.find("dead_letters");
            std::cout << "dead letters: " << (total ? dora::client::toJson(*total) : "?") << "\n";
            if (const Value* l = r.data.find("letters"))
                for (const auto& e : l->asArray()) {
                    const Value& v = e.value;
                    std::string apis;
                    if (const Value* a = v.find("apis"))
                        for (const auto& x : a->asArray()) apis += (apis.empty() ? "" : ",") + x.value.asString();
                    std::cout << v.find("id")->asString() << "  guid " << v.find("guid")->asString() << "  " << apis
                              << "  " << v.find("reason")->asString() << "\n";
                }
        } else {
            printFlat("", r.data);
        }
    }
    if (r.code != code::kOk) {
        printError("dead " + what + ": " + reason(r));
        return 1;
    }
    return 0;
}

int runStat(ArgList& args) {
    if (wantsHelp(args, kStatHelp)) return 0;
    return runControl(args, true);
}

int runReload(ArgList& args) {
    if (wantsHelp(args, kReloadHelp)) return 0;
    return runControl(args, false);
}

} // namespace dora::cli
