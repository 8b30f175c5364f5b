-- Enroll a random student in a random benchmark course (no capacity, no students at
-- first), and unenroll pairs enrolled LAG requests earlier: an enroll+unenroll cycle
-- is two requests. The lag lets each POST finish before its DELETE is sent.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
require("common")
local first = tonumber(os.getenv("BENCH_CYCLE_FIRST"))
local last = tonumber(os.getenv("BENCH_CYCLE_LAST"))
local lag = 64
local pending = {}
local head, tail, n = 1, 0, 0

request = function()
  n = n + 1
  if n % 2 == 0 and tail - head + 1 > lag then
    local pair = pending[head]
    pending[head] = nil
    head = head + 1
    return wrk.format("DELETE", "/students/" .. pair[1] .. "/courses/" .. pair[2], headers)
  end
  local student, course = random_student(), math.random(first, last)
  tail = tail + 1
  pending[tail] = {student, course}
  return wrk.format("POST", "/students/" .. student .. "/courses", json_headers,
                    '{"course_id": ' .. course .. '}')
end
