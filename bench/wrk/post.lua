-- wrk script of bench/run.sh's HTTP scenario: POSTs the same JSON body
-- (one echo call, as the gateway's /api/multisync takes it) to whatever
-- URL wrk is given, and prints one machine-readable line at the end:
--   wrk-summary requests=N seconds=S rps=R p50_ms=.. p99_ms=.. max_ms=..
--   errors=N non2xx=N
-- BENCH_BODY in the environment replaces the body.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY") or
    '{"guid":"5d41402abc4b2a76b9719d911017c592","api":{"hi":{"name":"echo","param":{"msg":"hello"}}}}'
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
    local e = summary.errors
    local errors = e.connect + e.read + e.write + e.timeout
    local secs = summary.duration / 1e6
    io.write(string.format(
        "wrk-summary requests=%d seconds=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f errors=%d non2xx=%d\n",
        summary.requests, secs, summary.requests / secs, latency:percentile(50) / 1000,
        latency:percentile(99) / 1000, latency.max / 1000, errors, e.status))
end
