// Prints how many tests of this runner exercise each client generation
// (by test name: testV1*, testV2*, testJson*) once the run is over.
#include <cppunit/Test.h>
#include <cppunit/extensions/TestFactoryRegistry.h>

#include <iostream>
#include <map>
#include <memory>
#include <string>

namespace {

void countByGeneration(CppUnit::Test* t, std::map<std::string, int>& counts) {
    if (t->getChildTestCount() == 0) {
        std::string name = t->getName();
        std::string leaf = name.substr(name.rfind(':') + 1);
        for (const char* gen : {"testV1", "testV2", "testJson"})
            if (leaf.rfind(gen, 0) == 0) ++counts[gen + 4];
        return;
    }
    for (int i = 0; i < t->getChildTestCount(); ++i)
        countByGeneration(t->getChildTestAt(i), counts);
}

struct PrintAtExit {
    ~PrintAtExit() {
        std::unique_ptr<CppUnit::Test> all(CppUnit::TestFactoryRegistry::getRegistry().makeTest());
        std::map<std::string, int> counts;
        countByGeneration(all.get(), counts);
        std::cout << "tests per generation: v1 " << counts["V1"] << ", v2 " << counts["V2"]
                  << ", JSON frames " << counts["Json"] << std::endl;
    }
} printAtExit;

} // namespace
