-- GET /courses/<random seeded course>/students (the first page of a roster)
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
require("common")
local first = tonumber(os.getenv("BENCH_ROSTER_FIRST"))
local last = tonumber(os.getenv("BENCH_ROSTER_LAST"))

request = function()
  return wrk.format("GET", "/courses/" .. math.random(first, last) .. "/students", headers)
end
