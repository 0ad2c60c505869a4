-- wrk script of scripts/load.sh's `callback` scenario: signed Qiniu callbacks read from EVENTS_FILE (one
-- "path<TAB>authorization<TAB>body" line per distinct upload, written by scripts/load/callbacks.py). Every
-- other request is a first delivery, the ones in between re-deliver the event sent DUP_LAG requests earlier
-- (often still in flight on another connection), so new events and duplicates are mixed about half and half.
-- Each wrk thread starts at its own offset of the list; the list wraps around, after which all are duplicates.
local events = {}
local lag = tonumber(os.getenv("DUP_LAG") or "3")
local thread_count = 0

function setup(thread)
   thread:set("offset", thread_count)
   thread_count = thread_count + 1
end

function init(args)
   for line in io.lines(os.getenv("EVENTS_FILE")) do
      local path, auth, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
      events[#events + 1] = { path, auth, body }
   end
   start = math.floor((tonumber(offset) or 0) * #events / tonumber(os.getenv("WRK_THREADS") or "1"))
   k = 0
end

function request()
   local n = math.floor(k / 2)
   if k % 2 == 1 then n = n - lag end
   if n < 0 then n = 0 end
   k = k + 1
   local e = events[(start + n) % #events + 1]
   return wrk.format("POST", e[1], {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["Authorization"] = e[2],
   }, e[3])
end

function done(summary, latency, requests)
   local e = summary.errors
   local seconds = summary.duration / 1e6
   io.write(string.format(
      "RESULT requests=%d seconds=%.2f rps=%.0f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f non2xx=%d socket_errors=%d\n",
      summary.requests, seconds, summary.requests / seconds,
      latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
      latency.max / 1000, e.status, e.connect + e.read + e.write + e.timeout))
end
