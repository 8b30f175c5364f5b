-- GET /courses?term_id=…&has_seats=true (the first page): one term's courses with a seat free
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
require("common")

local path = "/courses?term_id=" .. os.getenv("BENCH_TERM") .. "&has_seats=true"

request = function()
  return wrk.format("GET", path, headers)
end
