-- wrk script: prints p50/p95/p99 latency and non-2xx answers of one page as one line.
-- The session cookie comes from the command line (-H "Cookie: sessionid=...").
local errors = 0
response = function(status, headers, body)
  if status ~= 200 then errors = errors + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format(
    "RESULT requests=%d rps=%.1f p50=%.1fms p95=%.1fms p99=%.1fms max=%.1fms non200=%d\n",
    summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, errors + summary.errors.status))
end
