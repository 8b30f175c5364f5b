-- GET /students/<random id>/courses
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
require("common")

request = function()
  return wrk.format("GET", "/students/" .. random_student() .. "/courses", headers)
end
