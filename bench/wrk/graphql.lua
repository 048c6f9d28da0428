-- One benchmark scenario for wrk: a POST of a GraphQL request (or a plain
-- GET when BENCH_BODY is unset), with every response checked. The
-- open-loop driver (bench/src/openloop.rs) sends the same requests and
-- applies the same checks.
--
-- BENCH_BODY     the request body; "{n}" becomes a random number below
--                BENCH_RANGE, "{u}" a number unique within the run
-- BENCH_PATH     the request path (and query), with the same "{n}" and
--                "{u}"; unset: the path of the URL wrk was given
-- BENCH_MEDIA    the body's Content-Type and the Accept header
--                (default: application/json when a body is set, none
--                for a GET)
-- BENCH_TOKEN    the bearer token
-- BENCH_EXPECT   text every good response contains
-- BENCH_EXPECT_COUNT  how many times at least (default 1)
-- BENCH_CHECK    "0" to skip reading response bodies (status still counts)
--
-- A response fails when its status is not 200, when it carries a GraphQL
-- "errors" member, or when BENCH_EXPECT is missing from it (or found
-- fewer than BENCH_EXPECT_COUNT times). done() prints one line,
-- "BENCH_RESULT {json}".

local body = os.getenv("BENCH_BODY")
local path = os.getenv("BENCH_PATH")
local media = os.getenv("BENCH_MEDIA")
local token = os.getenv("BENCH_TOKEN")
local expect = os.getenv("BENCH_EXPECT")
local expect_count = tonumber(os.getenv("BENCH_EXPECT_COUNT") or "1")
local check = os.getenv("BENCH_CHECK") ~= "0"
local range = tonumber(os.getenv("BENCH_RANGE") or "1")
local run = os.getenv("BENCH_RUN") or "0"

local threads = {}

function setup(thread)
    thread:set("thread_id", #threads)
    table.insert(threads, thread)
end

function init(args)
    failures = 0
    checked = 0
    counter = 0
    math.randomseed(os.time() * 1000 + thread_id)
    if token then
        wrk.headers["Authorization"] = "Bearer " .. token
    end
    if body then
        wrk.method = "POST"
        wrk.headers["Content-Type"] = media or "application/json"
        wrk.headers["Accept"] = media or "application/json"
    elseif media then
        wrk.headers["Accept"] = media
    end
end

if body or path then
    function request()
        counter = counter + 1
        local n = tostring(math.random(0, range - 1))
        local u = run .. "-" .. thread_id .. "-" .. counter
        local p = nil
        if path then
            p = path:gsub("{n}", n):gsub("{u}", u)
        end
        if body then
            local text = body:gsub("{n}", n):gsub("{u}", u)
            return wrk.format(nil, p, nil, text)
        end
        return wrk.format("GET", p)
    end
end

-- Whether `text` holds `what` at least `times` times.
local function holds(text, what, times)
    local found, at = 0, 1
    while found < times do
        local s, e = text:find(what, at, true)
        if not s then
            return false
        end
        found = found + 1
        at = e + 1
    end
    return true
end

if check then
    function response(status, headers, text)
        checked = checked + 1
        if status ~= 200
            or text:find('"errors"', 1, true)
            or (expect and not holds(text, expect, expect_count)) then
            failures = failures + 1
            if failures == 1 then
                io.stderr:write("first failure: " .. status .. " " .. text:sub(1, 300) .. "\n")
            end
        end
    end
end

function done(summary, latency, requests)
    local failed, seen = 0, 0
    for _, thread in ipairs(threads) do
        failed = failed + (thread:get("failures") or 0)
        seen = seen + (thread:get("checked") or 0)
    end
    local e = summary.errors
    io.write(string.format(
        'BENCH_RESULT {"requests":%d,"duration_us":%d,"failures":%d,"checked":%d,' ..
        '"socket_errors":%d,"status_errors":%d,"timeouts":%d,' ..
        '"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\n',
        summary.requests, summary.duration, failed, seen,
        e.connect + e.read + e.write, e.status, e.timeout,
        latency:percentile(50), latency:percentile(90), latency:percentile(99),
        latency.mean, latency.max))
end
