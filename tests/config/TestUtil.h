// Helpers shared by the config suites.
#pragma once

#include <functional>
#include <string>

namespace dora::config::test {

/// The ConfigError message `f` throws, or "<no error>" (any other
/// exception propagates and fails the test).
std::string errorOf(const std::function<void()>& f);

/// Fails unless `message` starts with `prefix` and contains `part`.
void assertError(const std::string& message, const std::string& prefix,
                 const std::string& part = std::string());

/// A fresh empty directory, removed with everything in it on destruction.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return _path; }
    /// Writes `text` to path()/name and returns the full path.
    std::string write(const std::string& name, const std::string& text) const;

private:
    std::string _path;
};

} // namespace dora::config::test
