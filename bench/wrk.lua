-- wrk script of the load harness (bench/run.sh). The request comes from
-- the environment, so one script serves every measurement:
--   BENCH_METHOD  GET (default) or POST
--   BENCH_BODY    the request body (a JSON ticket, a login form)
--   BENCH_CTYPE   its Content-Type
--   BENCH_TOKEN   a bearer token, sent as "Authorization: Bearer ..."
-- done() prints one machine-readable line that run.sh reads:
--   BENCH requests=.. duration_us=.. p50_us=.. p99_us=.. status=.. connect=.. read=.. write=.. timeout=..
-- "status" is wrk's count of answers with a status of 400 or more.

local function env(name)
  local v = os.getenv(name)
  if v == nil or v == "" then return nil end
  return v
end

wrk.method = env("BENCH_METHOD") or "GET"
wrk.body = env("BENCH_BODY")
if env("BENCH_CTYPE") then wrk.headers["Content-Type"] = env("BENCH_CTYPE") end
if env("BENCH_TOKEN") then wrk.headers["Authorization"] = "Bearer " .. env("BENCH_TOKEN") end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d status=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect, e.read, e.write, e.timeout))
end
