-- wrk script of scripts/load.sh: every scenario is a POST of BODY (JSON) with the bearer TOKEN, both from the
-- environment, so the check curl sends the very same request (METHOD=GET and no BODY: the reference
-- scenario, GET /healthz). Ends with one machine-readable RESULT line.
wrk.method = os.getenv("METHOD") or "POST"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
local body = os.getenv("BODY")
if body ~= nil and body ~= "" then
   wrk.body = body
   wrk.headers["Content-Type"] = "application/json"
end

-- errors.status counts responses with status > 399; 3xx never happens here, so it is the non-2xx count.
function done(summary, latency, requests)
   local e = summary.errors
   local seconds = summary.duration / 1e6
   io.write(string.format(
      "RESULT requests=%d seconds=%.2f rps=%.0f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f non2xx=%d socket_errors=%d\n",
      summary.requests, seconds, summary.requests / seconds,
      latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
      latency.max / 1000, e.status, e.connect + e.read + e.write + e.timeout))
end
