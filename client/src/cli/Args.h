// cli/Args.h — command-line parsing shared by every `dora` command: an
// argument list that options are taken out of (anywhere on the line), and
// the client options all client commands accept.
#pragma once

#include <dora/client/Client.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace dora::cli {

/// Bad usage: main prints it with a hint to --help and exits 2.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// The arguments after the command name. Options are taken out by name
/// ("--x V" or "--x=V"); what is left are the positional arguments.
/// Everything after "--" is positional.
class ArgList {
public:
    explicit ArgList(std::vector<std::string> args);

    /// True if any of the names is present (all occurrences are removed).
    bool flag(std::initializer_list<const char*> names);
    /// The last value given for any of the names.
    std::optional<std::string> value(std::initializer_list<const char*> names);
    /// Every value given, in order.
    std::vector<std::string> values(std::initializer_list<const char*> names);
    /// What is left; throws UsageError on an unknown option.
    std::vector<std::string> positional();

private:
    std::vector<std::string> _args;
    std::vector<std::string> _tail; ///< after "--"
};

/// Options every client command takes.
struct ClientFlags {
    dora::client::ClientOptions options;
    bool json = false;
};

/// Takes --server (repeatable) or --registry and --group, --proto, --timeout, --connect-timeout,
/// --retry, --retry-unsafe, --signature, --salt, --gzip, --tls, --ca, --cert, --key and --json. Servers default to
/// $DORA_SERVER (comma separated), then 127.0.0.1:9567.
ClientFlags takeClientFlags(ArgList& args);

/// The client options' help text (for every command's --help).
extern const char* const kClientOptionsHelp;

/// Parses a whole integer in [min, max]; UsageError names the option.
std::int64_t parseInt(const std::string& option, const std::string& text, std::int64_t min,
                      std::int64_t max);
double parseDouble(const std::string& option, const std::string& text, double min);

} // namespace dora::cli
