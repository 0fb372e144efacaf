// A job's page: status and vertices, the three metrics, health, the full root exception,
// the cluster, and a link to Flink's own UI where a browser can reach it.

import { el, fill } from "./dom.js";
import {
  ago, absolute, clusterLabel, healthClass, healthMark, jobDuration, span, stateClass,
} from "./format.js";

function time(ms, now) {
  if (!(ms > 0)) return "–";
  return el("time", { datetime: new Date(ms).toISOString(), title: absolute(ms) }, ago(ms, now));
}

function facts(rows) {
  return el("dl", { class: "facts" },
    rows.filter(Boolean).map(([term, value]) => [el("dt", {}, term), el("dd", {}, value ?? "–")]));
}

function flinkLink(page) {
  const ui = page.flinkUi;
  if (!ui.url) return el("p", { class: "note" }, ui.note || "Flink's UI cannot be linked");
  const terminal = ["FINISHED", "FAILED", "CANCELED"].includes(page.job.state);
  const base = ui.url.endsWith("/") ? ui.url : ui.url + "/";
  const href = `${base}#/job/${terminal ? "completed" : "running"}/${encodeURIComponent(page.job.jid)}/overview`;
  return el("p", {},
    el("a", { href, target: "_blank", rel: "noopener noreferrer" }, "Open this job in Flink's web UI"),
    ui.note ? ` (${ui.note})` : "");
}

function vertices(status) {
  if (!status) return null;
  const header = ["Vertex", "Status", "Parallelism", "Records read", "Records written", "Duration"];
  return el("table", { class: "vertices" },
    el("caption", {}, "Vertices"),
    el("thead", {}, el("tr", {}, header.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, status.vertices.map((v) => {
      const m = v.metrics || {};
      return el("tr", {},
        el("th", { scope: "row" }, v.name ?? v.id),
        el("td", {}, v.status ? el("span", { class: stateClass(v.status) }, v.status) : "–"),
        el("td", { class: "num" }, v.parallelism ?? "–"),
        el("td", { class: "num" }, m["read-records"] ?? "–"),
        el("td", { class: "num" }, m["write-records"] ?? "–"),
        el("td", { class: "num" }, v.duration >= 0 ? span(v.duration) : "–"));
    })));
}

function unavailable(error) {
  return el("p", { class: "error" }, error);
}

/** The whole job view, built from the page's JSON (`/ui/api/clusters/{cluster}/jobs/{jid}`). */
export function renderJob(container, page, now, backHref) {
  const job = page.job;
  const health = page.health;
  const cluster = page.cluster;
  const checkpoints = health.checkpoints;
  const lastKnown = !cluster.reachable;
  const exception = page.exception;
  fill(container,
    el("nav", {}, el("a", { href: backHref, id: "back" }, "← All jobs")),
    el("h2", { id: "job-title" }, job.name),
    el("p", { class: "job-badges" },
      el("span", { class: stateClass(job.state) }, job.state), " ",
      el("span", { class: healthClass(health.health) }, healthMark(health.health) + health.health),
      health.reasons.length ? ` ${health.reasons.join(", ")}` : "",
      lastKnown ? el("span", { class: "tag last-known" }, "last known: the cluster is unreachable") : ""),
    el("section", { "aria-labelledby": "h-status" },
      el("h3", { id: "h-status" }, "Status"),
      facts([
        ["Flink job id", el("code", {}, job.jid)],
        ["State", job.state],
        ["Started", time(job.startTime, now)],
        ["Ended", job.endTime > 0 ? time(job.endTime, now) : "running"],
        ["Duration", jobDuration(job, now) === null ? "–" : span(jobDuration(job, now))],
      ]),
      page.status ? vertices(page.status) : unavailable(`Vertices: ${page.statusError}`)),
    el("section", { "aria-labelledby": "h-metrics" },
      el("h3", { id: "h-metrics" }, "Metrics"),
      page.metrics
        ? facts([
          ["Records read (numRecordsRead)", page.metrics.numRecordsRead],
          ["Records processed (numRecordsProcessed)", page.metrics.numRecordsProcessed],
          ["Event time (currentEventTs)", page.metrics.currentEventTs === "0"
            ? "0 (none)" : `${page.metrics.currentEventTs} (${absolute(Number(page.metrics.currentEventTs))})`],
        ])
        : unavailable(`Metrics: ${page.metricsError}`)),
    el("section", { "aria-labelledby": "h-health" },
      el("h3", { id: "h-health" }, "Health"),
      facts([
        ["Health", `${health.health}${health.reasons.length ? ` (${health.reasons.join(", ")})` : ""}`],
        ["Restarts (numRestarts)", health.restarts ?? "not read yet"],
        [`Restarts in the last ${span(page.restartWindowMs)}`, page.restartsInWindow ?? "not read yet"],
        ["Checkpointing", checkpoints.enabled
          ? `on, every ${checkpoints["interval-ms"] ? span(checkpoints["interval-ms"]) : "?"}` : "off or not known yet"],
        ["Checkpoints completed / failed / in progress",
          `${checkpoints.completed} / ${checkpoints.failed} / ${checkpoints["in-progress"]}`],
        ["Last completed checkpoint", time(checkpoints["last-completed-time"], now)],
        ["Last failed checkpoint", checkpoints["last-failure-time"]
          ? el("span", {}, time(checkpoints["last-failure-time"], now), " ", checkpoints["last-failure-message"] ?? "")
          : (checkpoints["last-failure-message"] ?? "–")],
        ["Last health check", time(health["checked-at"], now)],
      ])),
    el("section", { "aria-labelledby": "h-exception" },
      el("h3", { id: "h-exception" }, "Root exception"),
      exception
        ? (exception["root-exception"] === null
          ? el("p", {}, "None: the job has not failed.")
          : [
            el("p", {}, "Thrown ", time(exception.timestamp, now),
              exception.truncated ? el("strong", { class: "truncated" }, " (truncated by Flink: the exception history holds more)") : ""),
            el("pre", { class: "stacktrace", id: "root-exception", tabindex: 0 }, exception["root-exception"]),
          ])
        : unavailable(`Root exception: ${page.exceptionError}`)),
    el("section", { "aria-labelledby": "h-cluster" },
      el("h3", { id: "h-cluster" }, "Cluster"),
      facts([
        ["Cluster", `${clusterLabel(cluster)} (id ${cluster.id})`],
        ["Found through", cluster.source],
        ["JobManager URL", el("code", {}, cluster.url)],
        ["Flink version", cluster.flinkVersion ?? "not known yet"],
        ["Reachable", cluster.reachable ? "yes" : `no: ${cluster.lastError ?? "not polled yet"}`],
        ["Last answer", time(cluster.lastPoll, now)],
      ]),
      flinkLink(page)));
}
