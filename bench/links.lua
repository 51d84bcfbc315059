-- wrk script of bench/links.sh: each request taps the next short link of CODES_FILE (every thread
-- starts at its own offset), as phones tapping different messages' links would. With THINK_MS > 0
-- each connection waits between its answer and its next tap a random time, exponential with that
-- mean (independent phones: taps arrive as a Poisson stream; a fixed wait would keep the 50
-- connections in step and send them as one burst each period); wrk leaves the wait out of the
-- latency. With 0 it taps again at once (the saturation test).
-- Prints p50/p95/p99 latency and the answers that were not the expected 302 as one line.
local codes = {}
for line in io.lines(os.getenv("CODES_FILE")) do
  if #line > 0 then codes[#codes + 1] = line end
end
local threads = {}
counter = 0
wrong = 0  -- a global: done() reads each thread's with thread:get

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  counter = (id or 0) * 7919
  wrong = 0
  math.randomseed(7919 * ((id or 0) + 1))
end

local think = tonumber(os.getenv("THINK_MS") or "0")

function delay()
  if think <= 0 then return 0 end
  return -think * math.log(1 - math.random())
end

function request()
  counter = counter + 1
  return wrk.format("GET", "/t/" .. codes[(counter % #codes) + 1], {["User-Agent"] = os.getenv("AGENT")})
end

function response(status, headers, body)
  if status ~= 302 then wrong = wrong + 1 end
end

function done(summary, latency, requests)
  local not302 = summary.errors.status
  for _, thread in ipairs(threads) do not302 = not302 + thread:get("wrong") end
  io.write(string.format(
    "RESULT requests=%d rps=%.1f p50=%.1fms p95=%.1fms p99=%.1fms max=%.1fms not302=%d\n",
    summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, not302))
end
