#include "config/Schema.h"

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

namespace dora::config {

namespace {

std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

/// Splits "1500 ms" into the leading unsigned integer and the trimmed suffix.
/// False when there is no leading digit or the number does not fit.
bool splitNumber(std::string_view text, std::uint64_t& number, std::string_view& suffix) {
    const char* begin = text.data();
    const char* end = begin + text.size();
    auto [ptr, ec] = std::from_chars(begin, end, number);
    if (ec != std::errc() || ptr == begin) return false;
    while (ptr != end && *ptr == ' ')
        ++ptr;
    suffix = std::string_view(ptr, static_cast<std::size_t>(end - ptr));
    return true;
}

std::string joinKeys(const std::vector<std::string>& keys) {
    std::string out;
    for (const auto& k : keys) {
        if (!out.empty()) out += ", ";
        out += k;
    }
    return out;
}

const char* kindOf(const YAML::Node& node) {
    switch (node.Type()) {
    case YAML::NodeType::Sequence:
        return "a list";
    case YAML::NodeType::Map:
        return "a map";
    case YAML::NodeType::Scalar:
        return "a single value";
    default:
        return "nothing";
    }
}

} // namespace

std::int64_t parseInteger(std::string_view text, std::int64_t min, std::int64_t max) {
    std::int64_t value = 0;
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec != std::errc() || ptr != end || value < min || value > max) {
        throw std::invalid_argument("expected an integer in " + std::to_string(min) + ".." +
                                    std::to_string(max) + ", got " + quoted(text));
    }
    return value;
}

bool parseBool(std::string_view text) {
    if (text == "true" || text == "True" || text == "TRUE") return true;
    if (text == "false" || text == "False" || text == "FALSE") return false;
    throw std::invalid_argument("expected true or false, got " + quoted(text));
}

std::int64_t parseDuration(std::string_view text, TimeUnit unit, std::int64_t min,
                           std::int64_t max) {
    const bool seconds = unit == TimeUnit::Seconds;
    const char* unitName = seconds ? "seconds" : "milliseconds";
    auto bad = [&](const std::string& why) {
        return std::invalid_argument(why + ": expected a duration in " + std::to_string(min) +
                                     ".." + std::to_string(max) + " " + unitName +
                                     " (a number, or with ms, s, m, h), got " + quoted(text));
    };
    std::uint64_t number = 0;
    std::string_view suffix;
    if (!splitNumber(text, number, suffix)) throw bad("not a duration");

    std::uint64_t perUnitMs = 0; // milliseconds in one suffix unit
    if (suffix.empty())
        perUnitMs = seconds ? 1000 : 1;
    else if (suffix == "ms")
        perUnitMs = 1;
    else if (suffix == "s")
        perUnitMs = 1000;
    else if (suffix == "m")
        perUnitMs = 60 * 1000;
    else if (suffix == "h")
        perUnitMs = 3600 * 1000;
    else
        throw bad("unknown unit " + quoted(suffix));

    const auto limit = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    if (number > limit / perUnitMs) throw bad("out of range");
    std::uint64_t ms = number * perUnitMs;
    if (seconds && ms % 1000 != 0) throw bad("not a whole number of seconds");
    auto value = static_cast<std::int64_t>(seconds ? ms / 1000 : ms);
    if (value < min || value > max) throw bad("out of range");
    return value;
}

std::uint64_t parseSize(std::string_view text, std::uint64_t min, std::uint64_t max) {
    auto bad = [&](const std::string& why) {
        return std::invalid_argument(
            why + ": expected a size in " + formatSize(min) + ".." + formatSize(max) +
            " (bytes, or a number with B, KiB, MiB, GiB), got " + quoted(text));
    };
    std::uint64_t number = 0;
    std::string_view suffix;
    if (!splitNumber(text, number, suffix)) throw bad("not a size");
    std::uint64_t factor = 0;
    if (suffix.empty() || suffix == "B")
        factor = 1;
    else if (suffix == "KiB")
        factor = 1024;
    else if (suffix == "MiB")
        factor = 1024 * 1024;
    else if (suffix == "GiB")
        factor = 1024 * 1024 * 1024;
    else
        throw bad("unknown unit " + quoted(suffix));
    if (number > std::numeric_limits<std::uint64_t>::max() / factor) throw bad("out of range");
    std::uint64_t value = number * factor;
    if (value < min || value > max) throw bad("out of range");
    return value;
}

std::string formatSize(std::uint64_t bytes) {
    static const struct {
        std::uint64_t factor;
        const char* suffix;
    } units[] = {{1024ULL * 1024 * 1024, "GiB"}, {1024ULL * 1024, "MiB"}, {1024ULL, "KiB"}};
    for (const auto& u : units) {
        if (bytes != 0 && bytes % u.factor == 0) return std::to_string(bytes / u.factor) + u.suffix;
    }
    return std::to_string(bytes) + "B";
}

std::string parseChoice(std::string_view text, std::initializer_list<const char*> choices) {
    std::string list;
    for (const char* c : choices) {
        if (text == c) return std::string(text);
        if (!list.empty()) list += ", ";
        list += c;
    }
    throw std::invalid_argument("expected one of " + list + ", got " + quoted(text));
}

std::string parseToken(std::string_view text, std::string_view extra, const char* what) {
    bool ok = !text.empty();
    for (char ch : text) {
        auto c = static_cast<unsigned char>(ch);
        if (!((c < 0x80 && std::isalnum(c)) || extra.find(ch) != std::string_view::npos))
            ok = false;
    }
    if (!ok) {
        throw std::invalid_argument("expected " + std::string(what) +
                                    " (non-empty; letters, digits and " + std::string(extra) +
                                    "), got " + quoted(text));
    }
    return std::string(text);
}

std::string parseNonEmpty(std::string_view text) {
    if (text.empty()) throw std::invalid_argument("must not be empty");
    return std::string(text);
}

int nodeLine(const YAML::Node& node, int fallback) {
    if (!node.IsDefined()) return fallback;
    YAML::Mark mark = node.Mark();
    return mark.is_null() || mark.line < 0 ? fallback : mark.line + 1;
}

// ---------------------------------------------------------------- Section

Section::Section(const YAML::Node& node, std::string path, std::string file, int line,
                 std::initializer_list<const char*> keys)
    : _path(std::move(path)), _file(std::move(file)), _line(line) {
    for (const char* k : keys)
        _keys.emplace_back(k);
    if (!node.IsDefined() || node.IsNull()) return;
    if (!node.IsMap()) {
        failHere((_path.empty() ? std::string("the document") : _path) +
                 " must be a map with keys " + joinKeys(_keys) + ", got " + kindOf(node));
    }
    for (auto it = node.begin(); it != node.end(); ++it) {
        int keyLine = nodeLine(it->first, _line);
        if (!it->first.IsScalar()) {
            throw ConfigError(_file, keyLine,
                              "a key must be a plain name, got " + std::string(kindOf(it->first)));
        }
        const std::string& key = it->first.Scalar();
        std::string where = _path.empty() ? key : _path + "." + key;
        bool known = false;
        for (const auto& k : _keys)
            known = known || k == key;
        if (!known) {
            throw ConfigError(_file, keyLine,
                              "unknown key '" + where + "' (allowed" +
                                  (_path.empty() ? std::string() : " in " + _path) + ": " +
                                  joinKeys(_keys) + ")");
        }
        for (const auto& e : _entries) {
            if (e.key == key) {
                throw ConfigError(_file, keyLine,
                                  "duplicate key '" + where + "' (first at line " +
                                      std::to_string(e.line) + ")");
            }
        }
        _entries.push_back({key, it->second, keyLine});
    }
}

const Section::Entry* Section::find(const char* key) const {
    bool declared = false;
    for (const auto& k : _keys)
        declared = declared || k == key;
    if (!declared) throw std::logic_error("config schema: key '" + pathOf(key) + "' not declared");
    for (const auto& e : _entries) {
        if (e.key == key) return &e;
    }
    return nullptr;
}

bool Section::has(const char* key) const { return find(key) != nullptr; }

int Section::lineOf(const char* key) const {
    const Entry* e = find(key);
    return e ? e->line : _line;
}

std::string Section::pathOf(const char* key) const {
    return _path.empty() ? std::string(key) : _path + "." + key;
}

void Section::require(const char* key) const {
    if (!has(key)) failHere("missing required key '" + pathOf(key) + "'");
}

YAML::Node Section::node(const char* key) const {
    const Entry* e = find(key);
    return e ? e->value : YAML::Node(YAML::NodeType::Undefined);
}

Section Section::child(const char* key, std::initializer_list<const char*> keys) const {
    return Section(node(key), pathOf(key), _file, lineOf(key), keys);
}

void Section::fail(const char* key, const std::string& what) const {
    throw ConfigError(_file, lineOf(key), pathOf(key) + ": " + what);
}

void Section::failHere(const std::string& what) const { throw ConfigError(_file, _line, what); }

std::string Section::scalarText(const Entry& e) const {
    if (e.value.IsNull()) fail(e.key.c_str(), "no value given");
    if (!e.value.IsScalar()) {
        fail(e.key.c_str(), std::string("expected a single value, got ") + kindOf(e.value));
    }
    return e.value.Scalar();
}

std::vector<std::string> Section::listTexts(const Entry& e) const {
    if (e.value.IsNull()) fail(e.key.c_str(), "no value given");
    if (e.value.IsScalar()) return {e.value.Scalar()};
    if (!e.value.IsSequence())
        fail(e.key.c_str(), std::string("expected a list, got ") + kindOf(e.value));
    std::vector<std::string> out;
    for (const auto& item : e.value) {
        if (!item.IsScalar())
            fail(e.key.c_str(), std::string("expected a list of single values, got an item that is ") +
                                    kindOf(item));
        out.push_back(item.Scalar());
    }
    if (out.empty()) fail(e.key.c_str(), "the list is empty");
    return out;
}

void Section::readBool(const char* key, bool& out) const { read(key, out, parseBool); }

void Section::readString(const char* key, std::string& out) const {
    const Entry* e = find(key);
    if (e && e->value.IsNull()) fail(key, "no value given (write \"\" for an empty string)");
    read(key, out, [](const std::string& t) { return t; });
}

void Section::readDuration(const char* key, int& out, TimeUnit unit, std::int64_t min,
                           std::int64_t max) const {
    read(key, out, [&](const std::string& t) { return parseDuration(t, unit, min, max); });
}

// ---------------------------------------------------------------- documents

YAML::Node parseDocument(const std::string& text, const std::string& file) {
    std::vector<YAML::Node> docs;
    try {
        docs = YAML::LoadAll(text);
    } catch (const YAML::Exception& e) {
        int line = e.mark.is_null() ? 0 : e.mark.line + 1;
        throw ConfigError(file, line, "YAML syntax error: " + e.msg);
    }
    if (docs.empty()) return YAML::Node(YAML::NodeType::Null);
    if (docs.size() > 1) {
        throw ConfigError(file, nodeLine(docs[1], 0),
                          "more than one YAML document (remove the '---' separator)");
    }
    return docs[0];
}

std::string readFileText(const std::string& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec))
        throw ConfigError(path, 0, "cannot read: is a directory");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ConfigError(path, 0, std::string("cannot read: ") + std::strerror(errno));
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) throw ConfigError(path, 0, "cannot read: I/O error");
    return text.str();
}

} // namespace dora::config
