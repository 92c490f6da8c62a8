-- wrk script for scripts/bench-wrk: every request is one POST /v1/transfers from a random
-- signed-in user to another random user, with a fresh Idempotency-Key. The users file has one
-- "handle token" pair per line (written by scripts/bench-wrk).
local users = {}
local counter = 0
local thread_tag = ""

function init(args)
  for line in io.lines(args[1]) do
    local handle, token = line:match("^(%S+)%s+(%S+)$")
    if handle then users[#users + 1] = { handle = handle, token = token } end
  end
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
  thread_tag = string.format("%08x", math.random(0, 0x7fffffff))
end

function request()
  counter = counter + 1
  local from = math.random(#users)
  local to = math.random(#users - 1)
  if to >= from then to = to + 1 end
  local body = string.format('{"to":"%s","amount":%d}', users[to].handle, math.random(1, 100))
  local headers = {
    ["Authorization"] = "Bearer " .. users[from].token,
    ["Idempotency-Key"] = string.format("wrk-%s-%d", thread_tag, counter),
    ["Content-Type"] = "application/json",
  }
  return wrk.format("POST", "/v1/transfers", headers, body)
end
