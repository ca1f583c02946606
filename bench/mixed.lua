-- wrk script of the load harness (bench/run.sh): the mixed workload. Each
-- request picks an employee at random over the whole table and is, at
-- random, a write (a new ticket for that employee), a filtered list of its
-- tickets (when BENCH_LISTS is set) or else a read of that employee with
-- its tickets, so the data grows during the run and no answer stays valid
-- for long. Settings (environment):
--   BENCH_KIND       ticketapi (default) or pocketbase: which server's routes
--   BENCH_EMPLOYEES  employees 1..N to pick from
--   BENCH_WRITES     the share of writes, in percent (default 10)
--   BENCH_LISTS      the share of lists, in percent (default 0): the
--                    employee's open tickets, newest first, 20 of them, with
--                    the count of all
--   BENCH_TOKEN      a bearer token
--   BENCH_OWNER      PocketBase: the user id a new ticket names as its owner
-- The URL given to wrk is the server's origin (http://HOST:PORT); the paths:
--   ticketapi:  GET /api/v1/employee/{id}, POST /api/v1/ticket/{id} (JSON)
--   pocketbase: GET /api/collections/employees/records/{id}?expand=tickets_via_employee,
--               POST /api/collections/tickets/records (JSON naming the employee)
--               with PocketBase ids e00000000000001.. (bench/peers/pocketbase)
--   lists:      GET /api/v1/ticket/?employee_id={id}&status=open&sort=-created&limit=20,
--               GET /api/collections/tickets/records?filter=(employee='{id}' && status='open')
--               &sort=-created&perPage=20 (both count every match: X-Total-Count, totalItems)
-- done() prints the same BENCH line as bench/wrk.lua, with the reads and
-- writes this script sent.

local function env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  return v
end

local kind = env("BENCH_KIND", "ticketapi")
local employees = tonumber(env("BENCH_EMPLOYEES", "101"))
local writes = tonumber(env("BENCH_WRITES", "10"))
local lists = tonumber(env("BENCH_LISTS", "0"))
local owner = env("BENCH_OWNER", "")
local headers = { ["Content-Type"] = "application/json" }
if env("BENCH_TOKEN") then headers["Authorization"] = "Bearer " .. env("BENCH_TOKEN") end
if kind ~= "ticketapi" and kind ~= "pocketbase" then error("BENCH_KIND must be ticketapi or pocketbase") end

local threads = {}
function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

-- Every request this script can send, made once per thread in init()
-- (wrk.format needs wrk.host, which is set only by then).
local reads, posts, pages = {}, {}, {}
sent_reads, sent_writes, sent_lists = 0, 0, 0
function init(args)
  math.randomseed(os.time() * 1000 + (id or 0) * 7919)
  for i = 1, employees do
    if kind == "ticketapi" then
      reads[i] = wrk.format("GET", "/api/v1/employee/" .. i, headers)
      posts[i] = wrk.format("POST", "/api/v1/ticket/" .. i, headers,
        '{"title":"Benchmark ticket","description":"Filed by the load harness","status":"open"}')
      pages[i] = wrk.format("GET", "/api/v1/ticket/?employee_id=" .. i .. "&status=open&sort=-created&limit=20", headers)
    else
      local eid = string.format("e%014d", i)
      reads[i] = wrk.format("GET", "/api/collections/employees/records/" .. eid .. "?expand=tickets_via_employee", headers)
      posts[i] = wrk.format("POST", "/api/collections/tickets/records", headers,
        '{"title":"Benchmark ticket","description":"Filed by the load harness","status":"open",' ..
        '"employee":"' .. eid .. '","owner":"' .. owner .. '"}')
      pages[i] = wrk.format("GET", "/api/collections/tickets/records?filter=%28employee%3D%27" .. eid ..
        "%27%20%26%26%20status%3D%27open%27%29&sort=-created&perPage=20", headers)
    end
  end
end

function request()
  local i, roll = math.random(employees), math.random(100)
  if roll <= writes then
    sent_writes = sent_writes + 1
    return posts[i]
  end
  if roll <= writes + lists then
    sent_lists = sent_lists + 1
    return pages[i]
  end
  sent_reads = sent_reads + 1
  return reads[i]
end

function done(summary, latency, requests)
  local r, w, l = 0, 0, 0
  for _, t in ipairs(threads) do
    r = r + (t:get("sent_reads") or 0)
    w = w + (t:get("sent_writes") or 0)
    l = l + (t:get("sent_lists") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d status=%d connect=%d read=%d write=%d timeout=%d sent_reads=%d sent_writes=%d sent_lists=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect, e.read, e.write, e.timeout, r, w, l))
end
