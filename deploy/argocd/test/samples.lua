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

return {
  {
    name = "running and healthy",
    obj = fj(1, { state = "RUNNING", jobId = "8c2f", cluster = "team-a.orders", restarts = 0,
                  health = "Healthy", observedGeneration = 1,
                  conditions = { found, reachable, cond("Running", "True", "Running", "RUNNING"),
                                 cond("Healthy", "True", "Healthy", "no restarts, checkpoints complete") } }),
    status = "Healthy",
    message = "Job RUNNING on cluster team-a.orders",
  },
  {
    name = "finished batch job",
    obj = fj(1, { state = "FINISHED", cluster = "team-a.orders", health = "Healthy", observedGeneration = 1,
                  conditions = { found, reachable } }),
    status = "Healthy",
    message = "Job FINISHED on cluster team-a.orders",
  },
  {
    name = "running, health not checked yet",
    obj = fj(2, { state = "RUNNING", cluster = "team-a.orders", health = "Unknown", observedGeneration = 2,
                  conditions = { found, reachable,
                                 cond("Healthy", "Unknown", "NotCheckedYet", "no health check has run yet") } }),
    status = "Healthy",
    message = "Job RUNNING on cluster team-a.orders (health not known: no health check has run yet)",
  },
  {
    name = "health Degraded: restart loop",
    obj = fj(1, { state = "RUNNING", cluster = "team-a.orders", restarts = 17, health = "Degraded",
                  observedGeneration = 1,
                  conditions = { found, reachable,
                                 cond("Healthy", "False", "Restarting", "Restarting: 5 restarts within 10m (threshold 3)") } }),
    status = "Degraded",
    message = "Job RUNNING on cluster team-a.orders: Restarting: 5 restarts within 10m (threshold 3)",
  },
  {
    name = "health Degraded: checkpoints stalled, no condition message",
    obj = fj(1, { state = "RUNNING", cluster = "team-a.orders", health = "Degraded", observedGeneration = 1,
                  conditions = { found, reachable, cond("Healthy", "False", "CheckpointStalled", "") } }),
    status = "Degraded",
    message = "Job RUNNING on cluster team-a.orders: CheckpointStalled",
  },
  {
    name = "health Degraded, state not known",
    obj = fj(1, { health = "Degraded", observedGeneration = 1,
                  conditions = { cond("Healthy", "False", "Failed", "Failed: the job failed or is failing") } }),
    status = "Degraded",
    message = "Job: Failed: the job failed or is failing",
  },
  {
    name = "state FAILED without health (health checks off)",
    obj = fj(1, { state = "FAILED", cluster = "team-a.orders", observedGeneration = 1,
                  lastException = "java.lang.RuntimeException: boom (2026-11-30T10:01:00Z)",
                  conditions = { found, reachable } }),
    status = "Degraded",
    message = "Job FAILED on cluster team-a.orders: java.lang.RuntimeException: boom (2026-11-30T10:01:00Z)",
  },
  {
    name = "state FAILING",
    obj = fj(1, { state = "FAILING", observedGeneration = 1 }),
    status = "Degraded",
    message = "Job FAILING",
  },
  {
    name = "no status yet",
    obj = fj(1, nil),
    status = "Progressing",
    message = "Waiting for flink-monitor to report Flink job orders-enrichment",
  },
  {
    name = "status of an older generation",
    obj = fj(3, { state = "RUNNING", cluster = "team-a.orders", health = "Healthy", observedGeneration = 2,
                  conditions = { found, reachable } }),
    status = "Progressing",
    message = "Waiting for flink-monitor to observe generation 3 (status is of 2)",
  },
  {
    name = "status without observedGeneration",
    obj = fj(1, { state = "RUNNING" }),
    status = "Progressing",
    message = "Waiting for flink-monitor to observe generation 1 (status is of none)",
  },
  {
    name = "older generation wins over a failed state",
    obj = fj(4, { state = "FAILED", health = "Degraded", observedGeneration = 3 }),
    status = "Progressing",
    message = "Waiting for flink-monitor to observe generation 4 (status is of 3)",
  },
  {
    name = "canceled",
    obj = fj(1, { state = "CANCELED", cluster = "team-a.orders", health = "Unknown", observedGeneration = 1,
                  conditions = { found, reachable, cond("Healthy", "Unknown", "NotRunning", "job is CANCELED") } }),
    status = "Suspended",
    message = "Job CANCELED on cluster team-a.orders",
  },
  {
    name = "cancelling",
    obj = fj(1, { state = "CANCELLING", observedGeneration = 1 }),
    status = "Suspended",
    message = "Job CANCELLING",
  },
  {
    name = "restarting, not degraded yet",
    obj = fj(1, { state = "RESTARTING", cluster = "team-a.orders", health = "Healthy", observedGeneration = 1,
                  conditions = { found, reachable } }),
    status = "Progressing",
    message = "Job RESTARTING on cluster team-a.orders",
  },
  {
    name = "initializing",
    obj = fj(1, { state = "INITIALIZING", observedGeneration = 1 }),
    status = "Progressing",
    message = "Job INITIALIZING",
  },
  {
    name = "not found yet",
    obj = fj(1, { observedGeneration = 1,
                  conditions = { cond("Found", "False", "JobNotFound", "no job named orders-enrichment on team-a.orders") } }),
    status = "Progressing",
    message = "Job orders-enrichment not found: no job named orders-enrichment on team-a.orders",
  },
  {
    name = "vanished while running",
    obj = fj(1, { state = "RUNNING", cluster = "team-a.orders", observedGeneration = 1,
                  conditions = { cond("Found", "False", "JobNotFound", "Flink no longer lists the job"), reachable } }),
    status = "Degraded",
    message = "Job orders-enrichment not found on cluster team-a.orders: Flink no longer lists the job",
  },
  {
    name = "cluster unreachable",
    obj = fj(1, { state = "RUNNING", cluster = "team-a.orders", health = "Unknown", observedGeneration = 1,
                  conditions = { found, cond("ClusterReachable", "False", "Unreachable", "connection refused") } }),
    status = "Unknown",
    message = "Cluster team-a.orders cannot be reached: connection refused",
  },
}
