// The jobs table: rows of every cluster, filtered, sorted and shown a page at a time.
// Rendering reuses the same <tr> elements and touches only cells whose text changed, so a
// refresh neither flickers nor moves the scroll position or the keyboard focus.

import { el, setAttr, setClass, setText } from "./dom.js";
import {
  ago, absolute, clusterLabel, healthClass, healthMark, jobDuration, span, stateClass,
} from "./format.js";

export const PAGE_SIZE = 100;

export const COLUMNS = [
  { key: "name", label: "Job" },
  { key: "cluster", label: "Cluster" },
  { key: "state", label: "State" },
  { key: "health", label: "Health" },
  { key: "restarts", label: "Restarts" },
  { key: "checkpoint", label: "Last checkpoint" },
  { key: "started", label: "Started" },
  { key: "duration", label: "Duration" },
  { key: "exception", label: "Last exception" },
];

/** One row per job of every cluster, with what filtering and sorting read. */
export function buildRows(clusters) {
  const rows = [];
  for (const cluster of clusters) {
    const label = clusterLabel(cluster);
    for (const job of cluster.jobs) {
      const exception = job.exception ? `${job.exception.message}\n${job.exception.rootCause ?? ""}` : "";
      rows.push({
        key: `${cluster.id}/${job.jid}`,
        cluster,
        job,
        clusterLabel: label,
        search: [job.name, job.jid, cluster.id, label, job.state, job.health, job.reasons.join(" "), exception]
          .join("\n").toLowerCase(),
      });
    }
  }
  return rows;
}

export function filterRows(rows, filter) {
  const text = (filter.q || "").trim().toLowerCase();
  return rows.filter((row) =>
    (!text || row.search.includes(text)) &&
    (!filter.state || row.job.state === filter.state) &&
    (!filter.health || row.job.health === filter.health) &&
    (!filter.namespace || (row.cluster.namespace || "(static)") === filter.namespace) &&
    (!filter.cluster || row.cluster.id === filter.cluster));
}

const HEALTH_ORDER = { Degraded: 0, Unknown: 1, Healthy: 2 };

function sortValue(row, key, now) {
  const job = row.job;
  switch (key) {
    case "name": return job.name;
    case "cluster": return row.clusterLabel;
    case "state": return job.state;
    case "health": return HEALTH_ORDER[job.health] ?? 3;
    case "restarts": return job.restarts ?? -1;
    case "checkpoint": return job.lastCheckpoint ?? -1;
    case "started": return job.startTime;
    case "duration": return jobDuration(job, now) ?? -1;
    case "exception": return job.exception ? job.exception.rootCause ?? job.exception.message : "";
    default: return "";
  }
}

const collator = new Intl.Collator("en", { numeric: true, sensitivity: "base" });

function compare(a, b) {
  if (typeof a === "string" && typeof b === "string") return collator.compare(a, b);
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Sorted by one column, then by name and key so the order is stable between refreshes. */
export function sortRows(rows, sort, dir, now) {
  const sign = dir === "desc" ? -1 : 1;
  const keyed = rows.map((row) => [sortValue(row, sort, now), row]);
  keyed.sort((a, b) =>
    sign * compare(a[0], b[0]) || compare(a[1].job.name, b[1].job.name) || compare(a[1].key, b[1].key));
  return keyed.map((pair) => pair[1]);
}

/** The table's cells for a pool of rows. */
export class JobsTable {
  constructor(tbody, openHref) {
    this.tbody = tbody;
    this.openHref = openHref;
    this.pool = [];
  }

  row(i) {
    while (this.pool.length <= i) {
      const cells = {};
      const link = el("a", { class: "job-link" });
      const lastKnown = el("span", { class: "tag last-known", hidden: true }, "last known");
      const jid = el("span", { class: "jid" });
      cells.name = el("th", { scope: "row" }, link, " ", jid, " ", lastKnown);
      const clusterName = el("span");
      const source = el("span", { class: "tag" });
      const unreachable = el("span", { class: "tag bad", hidden: true }, "unreachable");
      cells.cluster = el("td", {}, clusterName, " ", source, " ", unreachable);
      const state = el("span");
      cells.state = el("td", {}, state);
      const health = el("span");
      const reasons = el("span", { class: "reasons" });
      cells.health = el("td", {}, health, " ", reasons);
      cells.restarts = el("td", { class: "num" });
      cells.checkpoint = el("td", { class: "nowrap" });
      cells.started = el("td", { class: "nowrap" });
      cells.duration = el("td", { class: "num" });
      cells.exception = el("td", { class: "exception" });
      const tr = el("tr", {}, Object.values(cells));
      this.pool.push({
        tr, cells, link, lastKnown, jid, clusterName, source, unreachable, state, health, reasons,
      });
    }
    return this.pool[i];
  }

  /** Shows `rows` (one page), reusing the rows already there. */
  render(rows, now) {
    rows.forEach((row, i) => {
      const r = this.row(i);
      if (!r.tr.isConnected || r.tr.parentNode !== this.tbody) this.tbody.append(r.tr);
      const { job, cluster } = row;
      setAttr(r.tr, "data-key", row.key);
      setText(r.link, job.name);
      setAttr(r.link, "href", this.openHref(row));
      setText(r.jid, job.jid.slice(0, 8));
      setAttr(r.jid, "title", `Flink job id ${job.jid}`);
      r.lastKnown.hidden = cluster.reachable;
      setText(r.clusterName, row.clusterLabel);
      setAttr(r.clusterName, "title", `cluster id ${cluster.id}, ${cluster.url}`);
      setText(r.source, cluster.source);
      r.unreachable.hidden = cluster.reachable;
      setText(r.state, job.state);
      setClass(r.state, stateClass(job.state));
      setText(r.health, healthMark(job.health) + job.health);
      setClass(r.health, healthClass(job.health));
      setText(r.reasons, job.reasons.join(", "));
      setText(r.cells.restarts, job.restarts ?? "–");
      this.times(r, row, now);
      const exception = job.exception;
      setText(r.cells.exception, exception ? exception.rootCause ?? exception.message : "");
      setAttr(r.cells.exception, "title", exception
        ? [exception.message, exception.rootCause && `caused by ${exception.rootCause}`,
          exception.timestamp && absolute(exception.timestamp)].filter(Boolean).join("\n")
        : "");
    });
    for (let i = rows.length; i < this.pool.length; i++) {
      if (this.pool[i].tr.isConnected) this.pool[i].tr.remove();
    }
  }

  /** The cells that move with time; run every second for the visible page. */
  times(r, row, now) {
    const job = row.job;
    const checkpoint = job.lastCheckpoint
      ? ago(job.lastCheckpoint, now)
      : job.checkpointing === true ? "none yet" : job.checkpointing === false ? "off" : "–";
    setText(r.cells.checkpoint, checkpoint);
    setAttr(r.cells.checkpoint, "title", job.lastCheckpoint ? absolute(job.lastCheckpoint) : "");
    setText(r.cells.started, job.startTime > 0 ? ago(job.startTime, now) : "–");
    setAttr(r.cells.started, "title", job.startTime > 0 ? absolute(job.startTime) : "");
    const duration = jobDuration(job, now);
    setText(r.cells.duration, duration === null ? "–" : span(duration));
    setAttr(r.cells.duration, "title", job.endTime > 0 ? `ended ${absolute(job.endTime)}` : "");
  }

  tick(rows, now) {
    rows.forEach((row, i) => this.times(this.pool[i], row, now));
  }
}
