-- wrk script of `scripts/load.sh soak`: a mix of valid and hostile requests, rotating per request:
-- valid credentials (several stores), made-up 1 KiB HTTP methods (each one new: metric labels must not grow),
-- known routes with a wrong method (405), an 8 KiB+ header and a 40 KiB header, bad and forged tokens,
-- malformed JSON, trailing data after the object, bad content types, bodies over 64 KiB, unknown paths.
-- Counts 5xx separately (there must be none) and ends with one machine-readable RESULT line.
local token = os.getenv("TOKEN")
local counter = 0
local kinds = {}

local function json(path, body, auth)
   local headers = { ["Content-Type"] = "application/json" }
   if auth ~= false then headers["Authorization"] = "Bearer " .. (auth or token) end
   return wrk.format("POST", path, headers, body)
end

kinds[#kinds + 1] = function() return json("/v1/uploads", '{"store":"media","key":"users/alice/photos/cat.jpg","content_type":"image/jpeg","size":123456,"method":"PUT"}') end
kinds[#kinds + 1] = function() return json("/v1/uploads", '{"store":"wx","key":"users/alice/photos/cat.jpg","content_type":"image/jpeg","size":123456}') end
kinds[#kinds + 1] = function() return json("/v1/uploads", '{"store":"qn","key":"users/alice/photos/cat.jpg","content_type":"image/jpeg"}') end
kinds[#kinds + 1] = function() return json("/v1/downloads", '{"store":"media","key":"users/alice/photos/cat.jpg"}') end
kinds[#kinds + 1] = function()
   -- A new made-up method every time.
   return wrk.format("X" .. string.rep("M", 1000) .. counter, "/v1/uploads", { ["Authorization"] = "Bearer " .. token })
end
kinds[#kinds + 1] = function() return wrk.format("DELETE", "/v1/uploads", nil, nil) end
kinds[#kinds + 1] = function() return wrk.format("GET", "/v1/stores", { ["X-Big"] = string.rep("b", 8200) }) end
kinds[#kinds + 1] = function() return wrk.format("GET", "/healthz", { ["X-Huge"] = string.rep("h", 40000) }) end
kinds[#kinds + 1] = function() return json("/v1/uploads", '{"store":"media","key":"users/alice/a.jpg"}', "not.a.jwt" .. counter) end
kinds[#kinds + 1] = function() return json("/v1/uploads", '{"store":"media"}', string.sub(token, 1, -3) .. "AA") end
kinds[#kinds + 1] = function() return json("/v1/uploads", '{"store":"media","key":', nil) end
kinds[#kinds + 1] = function() return json("/v1/uploads", '{"store":"media","key":"users/alice/a.jpg"}{"x":1} junk', nil) end
kinds[#kinds + 1] = function() return json("/v1/uploads", '{"store":"media","key":"users/alice/a.jpg","content_type":"image/png\\r\\nX-Evil: 1"}', nil) end
kinds[#kinds + 1] = function() return json("/v1/uploads", '{"pad":"' .. string.rep("p", 70000) .. '"}', nil) end
kinds[#kinds + 1] = function() return wrk.format("GET", "/v1/nope/" .. counter, nil, nil) end
kinds[#kinds + 1] = function() return json("/v1/callbacks/media", '{"EventName":"s3:ObjectCreated:Put","Records":[]}', "wrong-webhook-token") end

request = function()
   counter = counter + 1
   return kinds[(counter % #kinds) + 1]()
end

server_errors = 0 -- global: wrk reads it per thread with thread:get
response = function(status, headers, body)
   if status >= 500 then server_errors = server_errors + 1 end
end

-- Each wrk thread has its own Lua state: report per thread, load.sh sums the FIVEXX lines.
local threads = {}
setup = function(thread) threads[#threads + 1] = thread end
done = function(summary, latency, requests)
   local e = summary.errors
   for _, t in ipairs(threads) do io.write(string.format("FIVEXX %d\n", t:get("server_errors"))) end
   io.write(string.format("RESULT requests=%d seconds=%.2f rps=%.0f non2xx=%d socket_errors=%d\n",
      summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
      e.status, e.connect + e.read + e.write + e.timeout))
end
