-- Runs deploy/argocd/flinkjob-health.lua on the FlinkJobs of samples.lua the way Argo CD
-- does: a fresh environment per object with the global `obj` and only the libraries Argo
-- CD's gopher-lua VM opens (base, string, table, math, a safe part of os), then checks the
-- returned {status, message}. Needs Lua 5.1 (setfenv), as Argo CD's gopher-lua is.
--
--   lua5.1 deploy/argocd/test/run.lua [CHECK.lua [SAMPLES.lua]]
--
-- Prints one line per sample and "lua-health: N passed, N failed"; exits 1 on a failure.
local dir = string.match(arg[0], "^(.*)/[^/]*$") or "."
local check_path = arg[1] or (dir .. "/../flinkjob-health.lua")
local samples_path = arg[2] or (dir .. "/samples.lua")

local ARGO_STATUSES = { Healthy = true, Progressing = true, Degraded = true, Suspended = true,
                        Missing = true, Unknown = true }

local function deep_copy(v)
  if type(v) ~= "table" then
    return v
  end
  local out = {}
  for k, x in pairs(v) do
    out[k] = deep_copy(x)
  end
  return out
end

local function sandbox(obj)
  return {
    obj = obj,
    assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs, pcall = pcall,
    select = select, tonumber = tonumber, tostring = tostring, type = type, unpack = unpack,
    string = string, table = table, math = math,
    os = { time = os.time, date = os.date, clock = os.clock },
  }
end

local samples = dofile(samples_path)
local passed, failed = 0, 0
for _, sample in ipairs(samples) do
  local chunk, load_error = loadfile(check_path)
  local ok, result
  if chunk == nil then
    ok, result = false, "cannot load " .. check_path .. ": " .. tostring(load_error)
  else
    setfenv(chunk, sandbox(deep_copy(sample.obj)))
    ok, result = pcall(chunk)
  end
  local problem
  if not ok then
    problem = "the check raised an error: " .. tostring(result)
  elseif type(result) ~= "table" then
    problem = "the check returned " .. type(result) .. ", not a table"
  elseif not ARGO_STATUSES[result.status] then
    problem = "status " .. tostring(result.status) .. " is not one Argo CD knows"
  elseif type(result.message) ~= "string" or result.message == "" then
    problem = "no message"
  elseif result.status ~= sample.status then
    problem = "status " .. result.status .. ", want " .. sample.status .. " (message: " .. result.message .. ")"
  elseif sample.message ~= nil and result.message ~= sample.message then
    problem = "message " .. string.format("%q", result.message) .. ", want " .. string.format("%q", sample.message)
  end
  if problem == nil then
    passed = passed + 1
    print("  ok   " .. sample.name .. ": " .. result.status .. " (" .. result.message .. ")")
  else
    failed = failed + 1
    print("  FAIL " .. sample.name .. ": " .. problem)
  end
end
print("lua-health: " .. passed .. " passed, " .. failed .. " failed")
if failed > 0 or passed == 0 then
  os.exit(1)
end
