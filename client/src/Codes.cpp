#include <dora/client/Result.h>

namespace dora::client {

std::string describeCode(int c) { return wire::describeCode(c); }

} // namespace dora::client
