-- Shared by the benchmark scripts: random ids, the key, and a JSON summary line.
local students = tonumber(os.getenv("BENCH_STUDENTS") or "20000")
local key = os.getenv("BENCH_KEY") or ""
local pace = tonumber(os.getenv("BENCH_DELAY_MS") or "0")

headers = {}
if key ~= "" then headers["Authorization"] = "Bearer " .. key end
json_headers = {["Content-Type"] = "application/json"}
if key ~= "" then json_headers["Authorization"] = "Bearer " .. key end

-- Each run draws new ids: with wrk's fixed default seed every run would replay the
-- last one's pairs and find the enrollments it left behind.
math.randomseed(os.time())

function setup(thread)
  thread:set("seed", math.random(1, 2^30))
end

function init(args)
  math.randomseed(seed or os.time())
end

function random_student()
  return math.random(1, students)
end

if pace > 0 then
  function delay() return pace end
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  io.write(string.format(
    'BENCH {"requests": %d, "rps": %.1f, "p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "non2xx": %d, "errors": %d}\n',
    summary.requests, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
