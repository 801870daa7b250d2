// protocol/Codes.h — the host's name for the code table (dora/wire/codes.def,
// the one place codes are defined; docs/protocol.md lists them).
#pragma once

#include <dora/wire/Codes.h>

namespace dora::protocol {
namespace code = dora::wire::code;
} // namespace dora::protocol
