// config/Schema.h — the strict reader both config file kinds are built on.
// Internal to host/config: nothing else in the host reads YAML.
//
// Two layers:
//  * text parsers (parseInteger, parseSize, ...) shared by the YAML reader
//    and the environment overrides, so both accept exactly the same forms.
//    They throw std::invalid_argument with a reason naming the expected
//    form; the caller adds where the text came from.
//  * Section: one YAML map with a declared set of keys. Unknown and
//    duplicate keys are rejected when it is built; the read* calls turn a
//    bad value into a ConfigError naming file, line and dotted key path.
#pragma once

#include "config/ConfigError.h"

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace dora::config {

/// "-12" style decimal integer in [min, max].
std::int64_t parseInteger(std::string_view text, std::int64_t min, std::int64_t max);

/// true / false (also True, TRUE, False, FALSE). Nothing else: "yes" is a typo
/// as often as it is a boolean.
bool parseBool(std::string_view text);

enum class TimeUnit { Milliseconds, Seconds };

/// A duration as a whole number of `unit`: a plain integer is already in
/// `unit`; otherwise an integer with one of ms, s, m, h ("1500ms", "2 s").
/// The result must be a whole number of `unit` and lie in [min, max].
std::int64_t parseDuration(std::string_view text, TimeUnit unit, std::int64_t min,
                           std::int64_t max);

/// A byte count: plain bytes, or an integer with B, KiB, MiB or GiB
/// ("2MiB", "512 KiB"), in [min, max].
std::uint64_t parseSize(std::string_view text, std::uint64_t min, std::uint64_t max);

/// Bytes as the largest exact unit: 2097152 -> "2MiB", 1000 -> "1000B".
std::string formatSize(std::uint64_t bytes);

/// `text` if it is one of `choices`, else invalid_argument listing them.
std::string parseChoice(std::string_view text, std::initializer_list<const char*> choices);

/// `text` if non-empty and made only of ASCII letters, digits and the
/// characters in `extra`; `what` names the kind of thing for the message.
std::string parseToken(std::string_view text, std::string_view extra, const char* what);

/// `text` if non-empty.
std::string parseNonEmpty(std::string_view text);

/// One YAML map whose keys are declared up front. Cheap to copy (holds
/// yaml-cpp node handles). Not thread-safe, like yaml-cpp nodes.
class Section {
public:
    /// `node` may be a map, or null/undefined (a section left empty: every
    /// key takes its default). Anything else, an unknown key, a non-scalar
    /// key or a key given twice throws ConfigError.
    /// `path` is the dotted name used in messages ("" for the document root),
    /// `line` the line reported for the section as a whole.
    Section(const YAML::Node& node, std::string path, std::string file, int line,
            std::initializer_list<const char*> keys);

    bool has(const char* key) const;
    /// Line of the section (where it starts, or its key in the parent).
    int line() const { return _line; }
    /// Line of `key`, or of the section when the key is absent.
    int lineOf(const char* key) const;
    /// "server.io_threads" for key "io_threads" of section "server".
    std::string pathOf(const char* key) const;
    const std::string& file() const { return _file; }

    /// Throws "missing required key" when `key` is absent.
    void require(const char* key) const;
    /// The raw value of `key` (undefined node when absent).
    YAML::Node node(const char* key) const;
    /// A sub-section under `key` (absent or empty: every key defaults).
    Section child(const char* key, std::initializer_list<const char*> keys) const;

    [[noreturn]] void fail(const char* key, const std::string& what) const;
    [[noreturn]] void failHere(const std::string& what) const;

    /// If `key` is present: its scalar text through `parse` (which throws
    /// std::invalid_argument on a bad value) into `out`. Absent: `out` keeps
    /// its default. A missing value ("key:" alone), a list or a map is an error.
    template <class T, class Parse> void read(const char* key, T& out, Parse&& parse) const {
        const Entry* e = find(key);
        if (!e) return;
        std::string text = scalarText(*e);
        try {
            out = static_cast<T>(parse(text));
        } catch (const std::invalid_argument& ex) {
            fail(key, ex.what());
        }
    }

    template <class T>
    void readInt(const char* key, T& out, std::int64_t min, std::int64_t max) const {
        read(key, out, [&](const std::string& t) { return parseInteger(t, min, max); });
    }
    void readBool(const char* key, bool& out) const;
    /// Any scalar, including "" (write "" for an empty string: "key:" alone
    /// is an error, it is usually an unfinished edit).
    void readString(const char* key, std::string& out) const;
    template <class T>
    void readSize(const char* key, T& out, std::uint64_t min, std::uint64_t max) const {
        read(key, out, [&](const std::string& t) { return parseSize(t, min, max); });
    }
    void readDuration(const char* key, int& out, TimeUnit unit, std::int64_t min,
                      std::int64_t max) const;
    /// If `key` is present: a non-empty YAML list of single values (or one
    /// single value, taken as a list of one), each through `parse` (which
    /// throws std::invalid_argument), into `out`, replacing its default.
    template <class Parse>
    void readList(const char* key, std::vector<std::string>& out, Parse&& parse) const {
        const Entry* e = find(key);
        if (!e) return;
        std::vector<std::string> items = listTexts(*e);
        try {
            for (auto& t : items)
                t = parse(t);
        } catch (const std::invalid_argument& ex) {
            fail(key, ex.what());
        }
        out = std::move(items);
    }

private:
    struct Entry {
        std::string key;
        YAML::Node value;
        int line;
    };
    const Entry* find(const char* key) const;
    std::string scalarText(const Entry& e) const;
    std::vector<std::string> listTexts(const Entry& e) const;

    std::string _path;
    std::string _file;
    int _line;
    std::vector<std::string> _keys;
    std::vector<Entry> _entries;
};

/// The 1-based line of a node, or `fallback` when yaml-cpp has no mark.
int nodeLine(const YAML::Node& node, int fallback);

/// Parses `text` as exactly one YAML document (none: a null node).
/// Syntax errors and extra documents throw ConfigError naming `file`.
YAML::Node parseDocument(const std::string& text, const std::string& file);

/// Reads a whole file; throws ConfigError "<path>: cannot read: <reason>".
std::string readFileText(const std::string& path);

} // namespace dora::config
