-- Argo CD health check of flinkmonitor.dev/FlinkJob: resource.customizations.health.flinkmonitor.dev_FlinkJob
-- in argocd-cm (README, "Argo CD health check"). Argo CD runs it with gopher-lua (Lua 5.1),
-- the object in the global `obj`; it returns {status = ..., message = ...}.
-- Tested by deploy/argocd/test/run.lua with a real Lua 5.1 (scripts/chart-check.sh runs it).
--
--   Progressing  no status yet, status of an older generation, or a job that is starting,
--                restarting without being Degraded yet, or not found yet
--   Degraded     status.health Degraded (Failed, Restarting or CheckpointStalled), a FAILED
--                or FAILING job, or a job that vanished from its cluster while running
--   Suspended    a CANCELED or CANCELLING job (stopped on purpose), or Flink's SUSPENDED
--   Unknown      the job's cluster cannot be reached
--   Healthy      a RUNNING or FINISHED job that is not Degraded
local hs = {}

local function condition(status, type_)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == type_ then
      return c
    end
  end
  return nil
end

local function describe(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  if c ~= nil and c.reason ~= nil and c.reason ~= "" then
    return c.reason
  end
  return fallback
end

local status = obj.status
local job = (obj.spec ~= nil and obj.spec.jobName) or obj.metadata.name
if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for flink-monitor to report Flink job " .. tostring(job)
  return hs
end

local generation = obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for flink-monitor to observe generation " .. tostring(generation)
    .. " (status is of " .. tostring(status.observedGeneration or "none") .. ")"
  return hs
end

local state = status.state or ""
local label = "Job"
if state ~= "" then
  label = "Job " .. state
end
local where = ""
if status.cluster ~= nil and status.cluster ~= "" then
  where = " on cluster " .. status.cluster
end

if status.health == "Degraded" then
  hs.status = "Degraded"
  hs.message = label .. where .. ": " .. describe(condition(status, "Healthy"), "degraded")
  return hs
end

if state == "FAILED" or state == "FAILING" then
  hs.status = "Degraded"
  local cause = ""
  if status.lastException ~= nil and status.lastException ~= "" then
    cause = ": " .. status.lastException
  end
  hs.message = "Job " .. state .. where .. cause
  return hs
end

local reachable = condition(status, "ClusterReachable")
if reachable ~= nil and reachable.status == "False" then
  hs.status = "Unknown"
  local cluster = "The job's cluster"
  if status.cluster ~= nil and status.cluster ~= "" then
    cluster = "Cluster " .. status.cluster
  end
  hs.message = cluster .. " cannot be reached: " .. describe(reachable, "unreachable")
  return hs
end

if state == "CANCELED" or state == "CANCELLING" or state == "SUSPENDED" then
  hs.status = "Suspended"
  hs.message = "Job " .. state .. where
  return hs
end

local found = condition(status, "Found")
if found ~= nil and found.status == "False" then
  if state == "" or state == "FINISHED" then
    hs.status = state == "" and "Progressing" or "Healthy"
  else
    -- It was running and is gone: its cluster was replaced or the job was removed.
    hs.status = "Degraded"
  end
  hs.message = "Job " .. tostring(job) .. " not found" .. where .. ": " .. describe(found, "not found")
  return hs
end

if state == "RUNNING" or state == "FINISHED" then
  hs.status = "Healthy"
  hs.message = "Job " .. state .. where
  if status.health == "Unknown" then
    hs.message = hs.message .. " (health not known: " .. describe(condition(status, "Healthy"), "not checked yet") .. ")"
  end
  return hs
end

-- INITIALIZING, CREATED, RESTARTING, RECONCILING, or no state yet.
hs.status = "Progressing"
if state == "" then
  hs.message = "Waiting for flink-monitor to find Flink job " .. tostring(job)
else
  hs.message = "Job " .. state .. where
end
return hs
