// queue/QueueSettings.h — the queue's settings, shared by its four parts.
#pragma once

#include <string>

namespace dora::queue {

struct QueueSettings {
    std::string stream = "dora:tasks";
    std::string group = "dorahost";
    std::string deadLetterStream = "dora:dead";
    std::string consumer; ///< this node's consumer name
    int batchSize = 64;
    int batchLatencyMs = 5;
    int tasksPerEntry = 1;       ///< requests the producer packs into one stream entry (queue/Pack.h)
    int maxRetries = 5;          ///< handler failures before dead-lettering
    int retryBackoffMs = 200;    ///< doubled per attempt
    int claimIdleMs = 30000;     ///< take over other consumers' tasks idle this long
    int ledgerRetentionDays = 7; ///< exactly-once ledger rows kept this long
    int statusTtlSec = 3600;     ///< task status records kept this long after their last change; 0 = none
    int replicasAck = 0;            ///< replicas that must acknowledge a batch of XADDs (WAIT) before "accepted"
    int replicasAckTimeoutMs = 1000; ///< how long that WAIT waits
};

} // namespace dora::queue
