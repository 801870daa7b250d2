// The one test driver every CppUnit runner links: runs all registered
// suites (or those named on the command line), prints failures and ends
// with "N passed, N failed"; exits non-zero on any failure.
#include <cppunit/BriefTestProgressListener.h>
#include <cppunit/CompilerOutputter.h>
#include <cppunit/TestResult.h>
#include <cppunit/TestResultCollector.h>
#include <cppunit/TestRunner.h>
#include <cppunit/extensions/TestFactoryRegistry.h>

#include <iostream>

int main(int argc, char** argv) {
    CppUnit::Test* all = CppUnit::TestFactoryRegistry::getRegistry().makeTest();
    CppUnit::TestRunner runner;
    if (argc > 1) {
        for (int i = 1; i < argc; ++i) runner.addTest(all->findTest(argv[i]));
    } else {
        runner.addTest(all);
    }
    CppUnit::TestResult controller;
    CppUnit::TestResultCollector collector;
    CppUnit::BriefTestProgressListener progress;
    controller.addListener(&collector);
    controller.addListener(&progress);
    runner.run(controller);
    CppUnit::CompilerOutputter(&collector, std::cerr).write();
    int run = collector.runTests();
    int failed = collector.testFailuresTotal();
    std::cout << (run - failed) << " passed, " << failed << " failed" << std::endl;
    return failed == 0 && run > 0 ? 0 : 1;
}
