-- wrk script of the load harness (bench/run.sh): the uncached list. Every
-- request asks ticketapi for a different page of 100 employees,
--   GET /api/v1/employee/?after_id=N&limit=100
-- with N running over 0..BENCH_EMPLOYEES-100 in a scattered order (a stride
-- coprime with the count, each wrk thread taking its own share), so no two
-- requests of a run are the same until all the pages have been asked for
-- once, and no answer cache can help. The data (bench/run.sh) gives each
-- employee 5 tickets, so each answer is 100 employees with 5 tickets each.
-- Settings (environment):
--   BENCH_EMPLOYEES  employees 1..N, each with its tickets
--   BENCH_STRIDE     the wrk threads (-t): thread k asks for pages k, k+t, ..
--   BENCH_TOKEN      a bearer token
-- done() prints the same BENCH line as bench/wrk.lua.

local function env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  return v
end

local employees = tonumber(env("BENCH_EMPLOYEES", "20000"))
local stride = tonumber(env("BENCH_STRIDE", "2"))
local pages = employees - 100 + 1 -- after_id 0..employees-100
if pages < 1 then error("BENCH_EMPLOYEES must be 100 or more") end
local headers = {}
if env("BENCH_TOKEN") then headers["Authorization"] = "Bearer " .. env("BENCH_TOKEN") end

local function gcd(a, b)
  while b ~= 0 do a, b = b, a % b end
  return a
end
-- A step near 0.618 × pages that shares no factor with pages: walking
-- k × step (mod pages) visits every page once before any repeats.
local step = math.floor(pages * 0.618) + 1
while gcd(step, pages) ~= 1 do step = step + 1 end

local threads = {}
function setup(thread)
  thread:set("id", #threads) -- 0, 1, ..
  table.insert(threads, thread)
end

local start, k = 0, 0
function init(args)
  -- The same start for all threads of a run (they take turns on k), a
  -- different one each run.
  start = tonumber(env("BENCH_START", tostring(os.time() % pages)))
  k = id or 0
end

function request()
  local after = (start + k * step) % pages
  k = k + stride
  return wrk.format("GET", "/api/v1/employee/?after_id=" .. after .. "&limit=100", headers)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d status=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect, e.read, e.write, e.timeout))
end
