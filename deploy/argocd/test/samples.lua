-- FlinkJob objects as Argo CD hands them to the health check (the JSON of the live object),
-- each with the health Argo CD must show. Used by run.lua.
local function fj(generation, status)
  return {
    apiVersion = "flinkmonitor.dev/v1alpha1",
    kind = "FlinkJob",
    metadata = { name = "orders", namespace = "team-a", generation = generation },
    spec = { jobName = "orders-enrichment", cluster = "orders" },
    status = status,
  }
end

local function cond(type_, status, reason, message)
  return { type = type_, status = status, reason = reason, message = message,
           lastTransitionTime = "2026-11-30T10:00:00Z" }
end

local reachable = cond("ClusterReachable", "True", "Polled", "cluster team-a.orders answered")
local found = cond("Found", "True", "Found", "job 8c2f found")

-- The status of a job found on the reachable cluster team-a.orders, observed at generation 1:
-- `health` is nil with health checks off, `more` the conditions after Found and
-- ClusterReachable; `extra` adds fields or replaces these.
local function on_cluster(state, health, more, extra)
  local status = { state = state, cluster = "team-a.orders", health = health, observedGeneration = 1,
                   conditions = { found, reachable } }
  for _, c in ipairs(more or {}) do
    table.insert(status.conditions, c)
  end
  for k, v in pairs(extra or {}) do
    status[k] = v
  end
  return status
end

-- One sample: the object of `generation` with `status`, and the health Argo CD must show.
local function sample(name, generation, status, want, message)
  return { name = name, obj = fj(generation, status), status = want, message = message }
end

local function degraded_by(reason, message)
  return cond("Healthy", "False", reason, message)
end

return {
  sample("running and healthy", 1,
         on_cluster("RUNNING", "Healthy",
                    { cond("Running", "True", "Running", "RUNNING"),
                      cond("Healthy", "True", "Healthy", "no restarts, checkpoints complete") },
                    { jobId = "8c2f", restarts = 0 }),
         "Healthy", "Job RUNNING on cluster team-a.orders"),
  sample("finished batch job", 1, on_cluster("FINISHED", "Healthy"),
         "Healthy", "Job FINISHED on cluster team-a.orders"),
  sample("running, health not checked yet", 2,
         on_cluster("RUNNING", "Unknown", { cond("Healthy", "Unknown", "NotCheckedYet", "no health check has run yet") },
                    { observedGeneration = 2 }),
         "Healthy", "Job RUNNING on cluster team-a.orders (health not known: no health check has run yet)"),
  sample("health Degraded: restart loop", 1,
         on_cluster("RUNNING", "Degraded", { degraded_by("Restarting", "Restarting: 5 restarts within 10m (threshold 3)") },
                    { restarts = 17 }),
         "Degraded", "Job RUNNING on cluster team-a.orders: Restarting: 5 restarts within 10m (threshold 3)"),
  sample("health Degraded: checkpoints stalled, no condition message", 1,
         on_cluster("RUNNING", "Degraded", { degraded_by("CheckpointStalled", "") }),
         "Degraded", "Job RUNNING on cluster team-a.orders: CheckpointStalled"),
  sample("health Degraded, state not known", 1,
         { health = "Degraded", observedGeneration = 1,
           conditions = { degraded_by("Failed", "Failed: the job failed or is failing") } },
         "Degraded", "Job: Failed: the job failed or is failing"),
  sample("state FAILED without health (health checks off)", 1,
         on_cluster("FAILED", nil, nil, { lastException = "java.lang.RuntimeException: boom (2026-11-30T10:01:00Z)" }),
         "Degraded",
         "Job FAILED on cluster team-a.orders: java.lang.RuntimeException: boom (2026-11-30T10:01:00Z)"),
  sample("state FAILING", 1, { state = "FAILING", observedGeneration = 1 }, "Degraded", "Job FAILING"),
  sample("no status yet", 1, nil,
         "Progressing", "Waiting for flink-monitor to report Flink job orders-enrichment"),
  sample("status of an older generation", 3, on_cluster("RUNNING", "Healthy", nil, { observedGeneration = 2 }),
         "Progressing", "Waiting for flink-monitor to observe generation 3 (status is of 2)"),
  sample("status without observedGeneration", 1, { state = "RUNNING" },
         "Progressing", "Waiting for flink-monitor to observe generation 1 (status is of none)"),
  sample("older generation wins over a failed state", 4,
         { state = "FAILED", health = "Degraded", observedGeneration = 3 },
         "Progressing", "Waiting for flink-monitor to observe generation 4 (status is of 3)"),
  sample("canceled", 1, on_cluster("CANCELED", "Unknown", { cond("Healthy", "Unknown", "NotRunning", "job is CANCELED") }),
         "Suspended", "Job CANCELED on cluster team-a.orders"),
  sample("cancelling", 1, { state = "CANCELLING", observedGeneration = 1 }, "Suspended", "Job CANCELLING"),
  sample("restarting, not degraded yet", 1, on_cluster("RESTARTING", "Healthy"),
         "Progressing", "Job RESTARTING on cluster team-a.orders"),
  sample("initializing", 1, { state = "INITIALIZING", observedGeneration = 1 }, "Progressing", "Job INITIALIZING"),
  sample("not found yet", 1,
         { observedGeneration = 1,
           conditions = { cond("Found", "False", "JobNotFound", "no job named orders-enrichment on team-a.orders") } },
         "Progressing", "Job orders-enrichment not found: no job named orders-enrichment on team-a.orders"),
  sample("vanished while running", 1,
         on_cluster("RUNNING", nil, nil,
                    { conditions = { cond("Found", "False", "JobNotFound", "Flink no longer lists the job"), reachable } }),
         "Degraded", "Job orders-enrichment not found on cluster team-a.orders: Flink no longer lists the job"),
  sample("cluster unreachable", 1,
         on_cluster("RUNNING", "Unknown", nil,
                    { conditions = { found, cond("ClusterReachable", "False", "Unreachable", "connection refused") } }),
         "Unknown", "Cluster team-a.orders cannot be reached: connection refused"),
}
