-- The request every connection of a benches/load.sh scenario repeats, set through the
-- environment (wrk's Lua has no command-line arguments of its own):
--   LOAD_METHOD   GET or POST (default GET)
--   LOAD_HEADER   one extra header, "Name: value" (a bearer token or a session cookie)
--   LOAD_FORM     a form body, sent as application/x-www-form-urlencoded; "{n}" in it becomes
--                 0, 1, … LOAD_ACCOUNTS - 1 in turn (a different account each request, so
--                 that parallel sign-ins do not trip the per-account throttle)
-- done() prints one line, "RESULT <req/s> <p50 ms> <p99 ms> <answers >= 400> <socket errors>",
-- which load.sh turns into a table row.
wrk.method = os.getenv("LOAD_METHOD") or "GET"

local header = os.getenv("LOAD_HEADER")
if header and header ~= "" then
  local name, value = header:match("^([^:]+):%s*(.*)$")
  wrk.headers[name] = value
end

local form = os.getenv("LOAD_FORM")
local accounts = tonumber(os.getenv("LOAD_ACCOUNTS") or "1")
local turn = 0
if form and form ~= "" then
  wrk.body = form
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  if form:find("{n}", 1, true) then
    request = function()
      turn = (turn + 1) % accounts
      return wrk.format(nil, nil, nil, (form:gsub("{n}", tostring(turn))))
    end
  end
end

function done(summary, latency, _)
  local errors = summary.errors
  local seconds = summary.duration / 1e6
  print(string.format("RESULT %.0f %.2f %.2f %d %d",
    summary.requests / seconds,
    latency:percentile(50) / 1e3,
    latency:percentile(99) / 1e3,
    errors.status,
    errors.connect + errors.read + errors.write + errors.timeout))
end
