-- wrk script of bench/benchlib.py's wrk(): one request shape from the environment, an
-- exponential pause of mean BENCH_THINK_MS between a client's requests, and the figures
-- printed as one JSON line ("BENCH {...}") for the benchmark to read.
local json_headers = os.getenv("BENCH_HEADERS") or "{}"
local think_ms = tonumber(os.getenv("BENCH_THINK_MS") or "0")

wrk.method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY") or ""
if body ~= "" then
  wrk.body = body
end
-- BENCH_HEADERS is a flat JSON object of strings (no escapes inside values).
for k, v in string.gmatch(json_headers, '"([^"]+)"%s*:%s*"([^"]*)"') do
  wrk.headers[k] = v
end

local counter = 1
local threads = {}
function setup(thread)
  thread:set("seed", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(42 + seed)
end

-- wrk itself counts only statuses above 399: a redirect (an expired session sent to /login)
-- or a GraphQL answer carrying "errors" would pass for a fast success. Counted here, per thread.
bad_status, bad_body = 0, 0  -- globals: done() reads them from each thread
function response(status, headers, body)
  if status ~= 200 then
    bad_status = bad_status + 1
  elseif body and string.find(body, '"errors"', 1, true) then
    bad_body = bad_body + 1
  end
end

function delay()
  if think_ms <= 0 then
    return 0
  end
  return -think_ms * math.log(1 - math.random())
end

function done(summary, latency, requests)
  local e = summary.errors
  local not_ok, with_errors = 0, 0
  for _, t in ipairs(threads) do
    not_ok = not_ok + (t:get("bad_status") or 0)
    with_errors = with_errors + (t:get("bad_body") or 0)
  end
  io.write(string.format(
    'BENCH {"p50": %d, "p95": %d, "p99": %d, "requests": %d, "duration_us": %d, ' ..
    '"connect": %d, "read": %d, "write": %d, "timeout": %d, "not_200": %d, ' ..
    '"errors_in_body": %d}\n',
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, not_ok,
    with_errors))
end
