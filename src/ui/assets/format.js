// Times, durations and labels as the page shows them.

/** "3 s ago", "5 min ago", "2 h ago", "4 d ago"; "in 2 s" for a time ahead of now. */
export function ago(ms, now) {
  if (!(ms > 0)) return "";
  const delta = now - ms;
  if (delta < 0) return "in " + span(-delta);
  return span(delta) + " ago";
}

/** A length of time, coarse: "45 s", "12 min", "3 h 5 min", "2 d 4 h". */
export function span(ms) {
  if (!(ms >= 0)) return "";
  const s = Math.floor(ms / 1000);
  if (s < 60) return s + " s";
  const m = Math.floor(s / 60);
  if (m < 60) return m + " min";
  const h = Math.floor(m / 60);
  if (h < 24) return h + " h" + (m % 60 ? " " + (m % 60) + " min" : "");
  const d = Math.floor(h / 24);
  return d + " d" + (h % 24 ? " " + (h % 24) + " h" : "");
}

/** The absolute time, for hover titles: "2026-05-01 12:03:04 (local), 2026-05-01T10:03:04.000Z". */
export function absolute(ms) {
  if (!(ms > 0)) return "";
  const date = new Date(ms);
  if (Number.isNaN(date.getTime())) return String(ms);
  const pad = (n) => String(n).padStart(2, "0");
  const local =
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  return `${local} local time (${date.toISOString()})`;
}

/** Duration of a job: until its end, or until now while it runs. */
export function jobDuration(job, now) {
  if (!(job.startTime > 0)) return null;
  const end = job.endTime > 0 ? job.endTime : now;
  return Math.max(0, end - job.startTime);
}

export const STATES = [
  "INITIALIZING", "CREATED", "RUNNING", "FAILING", "FAILED", "CANCELLING", "CANCELED",
  "FINISHED", "RESTARTING", "SUSPENDED", "RECONCILING",
];

/** The badge class of a Flink job state (the text always says the state too). */
export function stateClass(state) {
  switch (state) {
    case "RUNNING": return "badge ok";
    case "FINISHED": return "badge done";
    case "FAILED": case "FAILING": return "badge bad";
    case "RESTARTING": return "badge warn";
    case "CANCELED": case "CANCELLING": return "badge muted";
    default: return "badge neutral";
  }
}

export function healthClass(health) {
  switch (health) {
    case "Healthy": return "badge ok";
    case "Degraded": return "badge bad";
    default: return "badge neutral";
  }
}

/** A symbol beside the word, so colour is never the only signal. */
export function healthMark(health) {
  switch (health) {
    case "Healthy": return "✓ ";
    case "Degraded": return "✗ ";
    default: return "? ";
  }
}

export function clusterLabel(cluster) {
  return cluster.namespace ? `${cluster.namespace}/${cluster.name}` : cluster.name;
}

export function plural(n, one, many) {
  return `${n.toLocaleString("en")} ${n === 1 ? one : many}`;
}
