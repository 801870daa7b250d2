#include "config/TestUtil.h"

#include "config/ConfigError.h"

#include <cppunit/TestAssert.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace dora::config::test {

std::string errorOf(const std::function<void()>& f) {
    try {
        f();
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "<no error>";
}

void assertError(const std::string& message, const std::string& prefix, const std::string& part) {
    CPPUNIT_ASSERT_MESSAGE("expected prefix '" + prefix + "' in: " + message,
                           message.compare(0, prefix.size(), prefix) == 0);
    CPPUNIT_ASSERT_MESSAGE("expected '" + part + "' in: " + message,
                           message.find(part) != std::string::npos);
}

TempDir::TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "dora-config-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    _path = tmpl;
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(_path, ec);
}

std::string TempDir::write(const std::string& name, const std::string& text) const {
    std::string full = _path + "/" + name;
    std::ofstream out(full, std::ios::binary);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + full);
    return full;
}

} // namespace dora::config::test
