// protocol/Wire.h — the wire library's frames and JSON under the names the
// host's protocol layer uses (dora::protocol::Frame, ...). The code lives in
// wire/, shared with the client; the host adds requests and answers on top.
#pragma once

#include <dora/wire/Frame.h>
#include <dora/wire/Json.h>

namespace dora::protocol {
using wire::appendFrame;
using wire::beginFrame;
using wire::finishFrame;
using wire::Frame;
using wire::FrameOptions;
using wire::fromJson;
using wire::Generation;
using wire::gzipDecode;
using wire::gzipEncode;
using wire::isGuid;
using wire::jsonDecodeLimits;
using wire::parseFrame;
using wire::ParseStatus;
using wire::signatureOf;
using wire::toJson;
using wire::toJsonTo;
} // namespace dora::protocol
