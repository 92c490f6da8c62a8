-- wrk script for scripts/bench-wrk-notes: every request is one POST /v1/notes with one offline
-- note, sent by its payee. The requests file has one "token<TAB>body" line per note (written by
-- `note_uploads prepare`). Each note is sent once: thread i of n takes lines i, i+n, i+2n, ...
-- wrk runs for its whole duration whatever the threads do, so a thread whose share is all sent
-- asks GET /v1/health from then on (never a note twice) and says so: done() prints how many
-- answers said "settled" and whether any thread ran out of notes (then the figure is too low:
-- prepare more notes).
local threads = {}
local counter = 1

function setup(thread)
  thread:set("id", #threads)
  threads[#threads + 1] = thread
end

function init(args)
  local n = #args >= 2 and tonumber(args[2]) or 2
  queue = {}
  local i = 0
  for line in io.lines(args[1]) do
    if i % n == id then
      local token, body = line:match("^([^\t]+)\t(.+)$")
      queue[#queue + 1] = wrk.format("POST", "/v1/notes", {
        ["Authorization"] = "Bearer " .. token,
        ["Content-Type"] = "application/json",
      }, body)
    end
    i = i + 1
  end
  settled, refused, exhausted = 0, 0, 0
end

function request()
  local r = queue[counter]
  counter = counter + 1
  if r == nil then
    exhausted = 1
    return wrk.format("GET", "/v1/health")
  end
  return r
end

function response(status, headers, body)
  if status == 200 and body:find('"status":"settled"', 1, true) then
    settled = settled + 1
  elseif counter <= #queue + 1 then
    refused = refused + 1
    if refused <= 3 then io.stderr:write(status .. " " .. body .. "\n") end
  end
end

function done(summary, latency, requests)
  local s, r, e = 0, 0, 0
  for _, t in ipairs(threads) do
    s = s + t:get("settled")
    r = r + t:get("refused")
    e = e + t:get("exhausted")
  end
  io.write(string.format("answers: %d settled, %d other; threads that ran out of notes: %d\n", s, r, e))
end
