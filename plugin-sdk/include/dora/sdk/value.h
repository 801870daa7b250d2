// dora/sdk/value.h — a PHP-like value: null, bool, int, float, string and
// the ordered array (keys int or string) that PHP calls "array".
//
// Header-only; used on both sides of the plugin boundary but never passed
// across it (values cross as PHP-serialize bytes, see serialize.h).
// A Value is a plain value type: copyable, movable, not thread-safe.
#ifndef DORA_SDK_VALUE_H
#define DORA_SDK_VALUE_H

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace dora::sdk {

/// An array key: PHP keys are either integers or strings. A decimal
/// integer string such as "7" is normalised to the int key 7, as PHP does.
class Key {
public:
    Key(std::int64_t i) : _isInt(true), _int(i) {} // NOLINT(google-explicit-constructor)
    Key(int i) : _isInt(true), _int(i) {}          // NOLINT(google-explicit-constructor)
    Key(std::string s) { assignString(std::move(s)); } // NOLINT(google-explicit-constructor)
    Key(const char* s) { assignString(std::string(s)); } // NOLINT(google-explicit-constructor)
    Key(std::string_view s) { assignString(std::string(s)); } // NOLINT(google-explicit-constructor)

    /// A string key kept as a string even if it looks like an integer
    /// (used when the wire says so explicitly, e.g. a JSON object key is
    /// still normalised by PHP, so this is rarely needed).
    static Key rawString(std::string s) {
        Key k(0);
        k._isInt = false;
        k._str = std::move(s);
        return k;
    }

    bool isInt() const { return _isInt; }
    std::int64_t intValue() const { return _int; }
    const std::string& stringValue() const { return _str; }
    /// The key as text ("7" for 7).
    std::string toString() const { return _isInt ? std::to_string(_int) : _str; }

    bool operator==(const Key& o) const {
        return _isInt == o._isInt && (_isInt ? _int == o._int : _str == o._str);
    }
    bool operator!=(const Key& o) const { return !(*this == o); }

    /// True when PHP would turn this string into an int key: an optional
    /// '-', no leading zeros, fits in int64, not "-0".
    static bool isCanonicalInt(std::string_view s, std::int64_t& out) {
        if (s.empty() || s.size() > 20) return false;
        std::size_t i = 0;
        bool neg = false;
        if (s[0] == '-') {
            neg = true;
            i = 1;
            if (s.size() == 1) return false;
        }
        if (s[i] == '0' && s.size() > i + 1) return false;
        if (neg && s[i] == '0') return false;
        std::uint64_t v = 0;
        for (; i < s.size(); ++i) {
            char c = s[i];
            if (c < '0' || c > '9') return false;
            std::uint64_t d = static_cast<std::uint64_t>(c - '0');
            if (v > (UINT64_MAX - d) / 10) return false;
            v = v * 10 + d;
        }
        if (neg) {
            if (v > static_cast<std::uint64_t>(INT64_MAX) + 1) return false;
            out = static_cast<std::int64_t>(0 - v);
        } else {
            if (v > static_cast<std::uint64_t>(INT64_MAX)) return false;
            out = static_cast<std::int64_t>(v);
        }
        return true;
    }

private:
    void assignString(std::string s) {
        std::int64_t v = 0;
        if (isCanonicalInt(s, v)) {
            _isInt = true;
            _int = v;
        } else {
            _isInt = false;
            _str = std::move(s);
        }
    }

    bool _isInt = false;
    std::int64_t _int = 0;
    std::string _str;
};

class Value;

/// PHP's ordered map. Insertion order is kept; setting an existing key
/// replaces its value in place. Lookups are linear for small arrays and
/// indexed once an array grows (so decoding a large array stays linear).
class Array {
public:
    struct Entry;

    Array() = default;
    Array(const Array& o) : _items(o._items), _nextIndex(o._nextIndex) {}
    Array(Array&&) noexcept = default;
    Array& operator=(const Array& o) {
        if (this != &o) {
            _items = o._items;
            _nextIndex = o._nextIndex;
            _index.reset();
        }
        return *this;
    }
    Array& operator=(Array&&) noexcept = default;

    std::size_t size() const { return _items.size(); }
    bool empty() const { return _items.empty(); }

    /// Sets key => value (replacing in place if the key exists).
    void set(const Key& k, Value v);
    /// Appends with the next integer key, as PHP's $a[] = v.
    void push(Value v);
    /// The value at key k, or nullptr.
    const Value* find(const Key& k) const;
    Value* find(const Key& k);
    bool contains(const Key& k) const { return find(k) != nullptr; }

    /// True if the keys are exactly 0..n-1 in order (a JSON list).
    bool isList() const;

    std::vector<Entry>::const_iterator begin() const { return _items.begin(); }
    std::vector<Entry>::const_iterator end() const { return _items.end(); }
    std::vector<Entry>::iterator begin() { return _items.begin(); }
    std::vector<Entry>::iterator end() { return _items.end(); }
    const std::vector<Entry>& entries() const { return _items; }

    bool operator==(const Array& o) const;
    bool operator!=(const Array& o) const { return !(*this == o); }

private:
    static constexpr std::size_t kIndexThreshold = 16;
    static std::string indexKey(const Key& k) {
        return k.isInt() ? std::string("i") + std::to_string(k.intValue())
                         : std::string("s") + k.stringValue();
    }
    std::size_t locate(const Key& k) const;
    void noteKey(const Key& k, std::size_t pos);

    std::vector<Entry> _items;
    std::int64_t _nextIndex = 0;
    mutable std::unique_ptr<std::unordered_map<std::string, std::size_t>> _index;
};

/// A PHP value.
class Value {
public:
    enum class Type { Null, Bool, Int, Float, String, Array };

    Value() = default;
    Value(std::nullptr_t) {}                                 // NOLINT(google-explicit-constructor)
    Value(bool b) : _v(b) {}                                 // NOLINT(google-explicit-constructor)
    Value(int i) : _v(static_cast<std::int64_t>(i)) {}       // NOLINT(google-explicit-constructor)
    Value(long i) : _v(static_cast<std::int64_t>(i)) {}      // NOLINT(google-explicit-constructor)
    Value(long long i) : _v(static_cast<std::int64_t>(i)) {} // NOLINT(google-explicit-constructor)
    Value(unsigned i) : _v(static_cast<std::int64_t>(i)) {}  // NOLINT(google-explicit-constructor)
    Value(double d) : _v(d) {}                               // NOLINT(google-explicit-constructor)
    Value(std::string s) : _v(std::move(s)) {}               // NOLINT(google-explicit-constructor)
    Value(std::string_view s) : _v(std::string(s)) {}        // NOLINT(google-explicit-constructor)
    Value(const char* s) : _v(std::string(s)) {}             // NOLINT(google-explicit-constructor)
    Value(dora::sdk::Array a) : _v(std::move(a)) {}          // NOLINT(google-explicit-constructor)

    /// An empty array.
    static Value array() { return Value(dora::sdk::Array()); }

    Type type() const { return static_cast<Type>(_v.index()); }
    bool isNull() const { return type() == Type::Null; }
    bool isBool() const { return type() == Type::Bool; }
    bool isInt() const { return type() == Type::Int; }
    bool isFloat() const { return type() == Type::Float; }
    bool isString() const { return type() == Type::String; }
    bool isArray() const { return type() == Type::Array; }

    /// Typed access; throws std::logic_error on the wrong type.
    bool asBool() const { return get<bool>("bool"); }
    std::int64_t asInt() const { return get<std::int64_t>("int"); }
    double asFloat() const { return get<double>("float"); }
    const std::string& asString() const { return get<std::string>("string"); }
    const dora::sdk::Array& asArray() const { return get<dora::sdk::Array>("array"); }
    dora::sdk::Array& asArray() { return getMut<dora::sdk::Array>("array"); }

    /// Array access: the value at key k, or nullptr (also for non-arrays).
    const Value* find(const Key& k) const {
        return isArray() ? asArray().find(k) : nullptr;
    }
    /// Array building: sets k => v, turning a null into an array first.
    Value& set(const Key& k, Value v) {
        if (isNull()) _v = dora::sdk::Array();
        asArray().set(k, std::move(v));
        return *this;
    }
    Value& push(Value v) {
        if (isNull()) _v = dora::sdk::Array();
        asArray().push(std::move(v));
        return *this;
    }

    bool operator==(const Value& o) const;
    bool operator!=(const Value& o) const { return !(*this == o); }

    static const char* typeName(Type t) {
        switch (t) {
        case Type::Null: return "null";
        case Type::Bool: return "bool";
        case Type::Int: return "int";
        case Type::Float: return "float";
        case Type::String: return "string";
        case Type::Array: return "array";
        }
        return "?";
    }

private:
    template <class T> const T& get(const char* want) const {
        if (auto p = std::get_if<T>(&_v)) return *p;
        throw std::logic_error(std::string("value is ") + typeName(type()) + ", not " + want);
    }
    template <class T> T& getMut(const char* want) {
        if (auto p = std::get_if<T>(&_v)) return *p;
        throw std::logic_error(std::string("value is ") + typeName(type()) + ", not " + want);
    }

    std::variant<std::monostate, bool, std::int64_t, double, std::string, dora::sdk::Array> _v;
};

struct Array::Entry {
    Key key;
    Value value;
    bool operator==(const Entry& o) const { return key == o.key && value == o.value; }
};

inline std::size_t Array::locate(const Key& k) const {
    if (_items.size() < kIndexThreshold) {
        for (std::size_t i = 0; i < _items.size(); ++i)
            if (_items[i].key == k) return i;
        return _items.size();
    }
    if (!_index) {
        _index = std::make_unique<std::unordered_map<std::string, std::size_t>>();
        _index->reserve(_items.size() * 2);
        for (std::size_t i = 0; i < _items.size(); ++i) _index->emplace(indexKey(_items[i].key), i);
    }
    auto it = _index->find(indexKey(k));
    return it == _index->end() ? _items.size() : it->second;
}

inline void Array::noteKey(const Key& k, std::size_t pos) {
    if (_index) _index->emplace(indexKey(k), pos);
    if (k.isInt() && k.intValue() >= _nextIndex)
        _nextIndex = k.intValue() == INT64_MAX ? INT64_MAX : k.intValue() + 1;
}

inline void Array::set(const Key& k, Value v) {
    // Every int key present is below _nextIndex (unless it saturated), so
    // a key at or above it is new: appending a list (the decoders' common
    // case) needs no lookup and never builds the index.
    bool fresh = k.isInt() && k.intValue() >= _nextIndex && _nextIndex != INT64_MAX;
    std::size_t pos = fresh ? _items.size() : locate(k);
    if (pos < _items.size()) {
        _items[pos].value = std::move(v);
        return;
    }
    // Most arrays hold a few entries (a call, an answer, a row): room for
    // four at once, not the three reallocations of growing 1, 2, 4.
    if (_items.empty()) _items.reserve(4);
    _items.push_back(Entry{k, std::move(v)});
    noteKey(k, _items.size() - 1);
}

inline void Array::push(Value v) { set(Key(_nextIndex), std::move(v)); }

inline const Value* Array::find(const Key& k) const {
    std::size_t pos = locate(k);
    return pos < _items.size() ? &_items[pos].value : nullptr;
}

inline Value* Array::find(const Key& k) {
    std::size_t pos = locate(k);
    return pos < _items.size() ? &_items[pos].value : nullptr;
}

inline bool Array::isList() const {
    for (std::size_t i = 0; i < _items.size(); ++i) {
        const Key& k = _items[i].key;
        if (!k.isInt() || k.intValue() != static_cast<std::int64_t>(i)) return false;
    }
    return true;
}

inline bool Array::operator==(const Array& o) const { return _items == o._items; }

inline bool Value::operator==(const Value& o) const {
    if (type() != o.type()) return false;
    if (isFloat()) {
        double a = asFloat(), b = o.asFloat();
        return a == b || (a != a && b != b); // NAN equals NAN for round-trip checks
    }
    return _v == o._v;
}

} // namespace dora::sdk

#endif // DORA_SDK_VALUE_H
