// flink-monitor's web page: every job of every cluster, live. Reads /ui/api/jobs (only
// what changed since its token, 304 when nothing did) every refresh interval, and a job's
// page from /ui/api/clusters/{cluster}/jobs/{jid}. Filters, sort, page and the open job
// live in the URL, so a link can be shared.

import { el, fill, setText } from "./dom.js";
import { ago, absolute, clusterLabel, plural, STATES } from "./format.js";
import { COLUMNS, JobsTable, PAGE_SIZE, buildRows, filterRows, sortRows } from "./table.js";
import { renderJob } from "./job.js";

const FILTERS = ["q", "state", "health", "namespace", "cluster"];
const $ = (id) => document.getElementById(id);

const page = {
  clusters: new Map(),
  token: null,
  refreshMs: 1000,
  offset: 0, // server time minus ours
  rows: [],
  shown: [], // filtered and sorted
  visible: [], // this page
  filter: {},
  loaded: false,
  job: null, // the open job's JSON
  jobKey: null,
  jobFetchedAt: 0,
  listScroll: 0,
  error: null,
};

// Timings the benchmark (scripts/bench/ui.sh) reads.
const timings = { firstRender: null, refreshes: [] };
window.flinkMonitorTimings = timings;
performance.setResourceTimingBufferSize(1000);

const now = () => Date.now() + page.offset;

// ------------------------------------------------------------------ URL state

function readUrl() {
  const params = new URLSearchParams(location.search);
  const filter = {};
  for (const key of FILTERS) filter[key] = params.get(key) || "";
  filter.sort = COLUMNS.some((c) => c.key === params.get("sort")) ? params.get("sort") : "name";
  filter.dir = params.get("dir") === "desc" ? "desc" : "asc";
  filter.page = Math.max(0, (parseInt(params.get("page") || "1", 10) || 1) - 1);
  filter.job = params.get("job") || "";
  page.filter = filter;
}

function urlFor(filter) {
  const params = new URLSearchParams();
  for (const key of FILTERS) if (filter[key]) params.set(key, filter[key]);
  if (filter.sort !== "name") params.set("sort", filter.sort);
  if (filter.dir !== "asc") params.set("dir", filter.dir);
  if (filter.page > 0) params.set("page", String(filter.page + 1));
  if (filter.job) params.set("job", filter.job);
  const query = params.toString();
  return location.pathname + (query ? "?" + query : "");
}

function writeUrl(push) {
  const url = urlFor(page.filter);
  if (url === location.pathname + location.search) return;
  if (push) history.pushState(null, "", url);
  else history.replaceState(null, "", url);
}

// ------------------------------------------------------------------ data

async function refresh() {
  const started = performance.now();
  const url = "api/jobs" + (page.token ? "?since=" + encodeURIComponent(page.token) : "");
  try {
    const response = await fetch(url, {
      cache: "no-store",
      headers: page.token ? { "If-None-Match": `"${page.token}"` } : {},
    });
    if (response.status === 304) {
      setError(null);
      record({ notModified: true, ms: performance.now() - started }, url);
      return;
    }
    if (!response.ok) throw new Error(`${url} answered ${response.status}`);
    const body = (await response.json()).response;
    const changed = apply(body);
    setError(null);
    render();
    if (page.job && changed.has(page.job.cluster.id)) loadJob(false);
    record({ full: body.full, clusters: body.clusters.length, ms: performance.now() - started }, url);
    if (timings.firstRender === null) timings.firstRender = performance.now();
  } catch (error) {
    setError(`flink-monitor does not answer (${error.message}); showing what it said last, asking again`);
  } finally {
    setTimeout(refresh, page.refreshMs);
  }
}

/** Keeps a refresh's time and bytes over the wire (the last 200) for the benchmark. */
function record(entry, url) {
  const timing = performance.getEntriesByType("resource").filter((e) => e.name.endsWith(url)).pop();
  entry.bytes = timing ? timing.transferSize : null;
  entry.bodyBytes = timing ? timing.encodedBodySize : null;
  timings.refreshes.push(entry);
  if (timings.refreshes.length > 200) timings.refreshes.shift();
  performance.clearResourceTimings();
}

/** Merges an answer; returns the ids of the clusters it changed. */
function apply(body) {
  page.token = body.token;
  page.refreshMs = body.refreshMs || 1000;
  page.offset = body.now - Date.now();
  if (body.full) page.clusters.clear();
  const changed = new Set();
  for (const id of body.removed) {
    page.clusters.delete(id);
    changed.add(id);
  }
  for (const cluster of body.clusters) {
    page.clusters.set(cluster.id, cluster);
    changed.add(cluster.id);
  }
  if (body.full || changed.size) {
    const ordered = [...page.clusters.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    page.rows = buildRows(ordered);
  }
  page.loaded = true;
  return changed;
}

function setError(message) {
  if (page.error === message) return;
  page.error = message;
  const banner = $("error");
  banner.hidden = !message;
  setText(banner, message || "");
}

// ------------------------------------------------------------------ rendering

const table = new JobsTable($("rows"), (row) => urlFor({ ...page.filter, job: row.key }));

function render() {
  if (!page.loaded) return;
  renderSummary();
  renderUnreachable();
  renderOptions();
  renderList();
  if (page.filter.job) renderJobView();
  showView();
}

function renderSummary() {
  const states = new Map();
  let degraded = 0;
  for (const row of page.rows) {
    states.set(row.job.state, (states.get(row.job.state) || 0) + 1);
    if (row.job.health === "Degraded") degraded += 1;
  }
  const unreachable = [...page.clusters.values()].filter((c) => !c.reachable).length;
  const byState = [...states.entries()].sort((a, b) => b[1] - a[1]).map(([s, n]) => `${n.toLocaleString("en")} ${s}`);
  setText($("summary"),
    `${plural(page.rows.length, "job", "jobs")} on ${plural(page.clusters.size, "cluster", "clusters")}` +
    (byState.length ? `: ${byState.join(", ")}` : "") +
    ` · ${plural(degraded, "degraded job", "degraded jobs")}` +
    ` · ${plural(unreachable, "unreachable cluster", "unreachable clusters")}`);
}

function renderUnreachable() {
  const down = [...page.clusters.values()].filter((c) => c.polled && !c.reachable);
  const section = $("unreachable");
  section.hidden = down.length === 0;
  const signature = down.map((c) => `${c.id}\n${c.lastError}\n${c.lastPoll}`).join("\n");
  if (section.dataset.signature === signature) return;
  section.dataset.signature = signature;
  fill($("unreachable-list"), down.map((c) =>
    el("li", { "data-cluster": c.id },
      el("strong", {}, clusterLabel(c)), ` (${c.source}, ${c.url}): `,
      el("span", { class: "cluster-error" }, c.lastError || "unreachable"), ". ",
      c.lastPoll
        ? el("span", { "data-time": c.lastPoll, title: absolute(c.lastPoll) }, `Last answer ${ago(c.lastPoll, now())}`)
        : "It never answered",
      `; ${plural(c.jobs.length, "job", "jobs")} shown as last known.`)));
}

function setOptions(select, values, label = (v) => v) {
  const wanted = select.value || page.filter[select.name] || "";
  const all = [...new Set(wanted ? [...values, wanted] : values)];
  const signature = all.join("\n");
  if (select.dataset.signature !== signature) {
    select.dataset.signature = signature;
    fill(select, el("option", { value: "" }, "any"), all.map((v) => el("option", { value: v }, label(v))));
  }
  select.value = page.filter[select.name] || "";
}

function renderOptions() {
  const clusters = [...page.clusters.values()];
  const states = new Set(STATES.filter((s) => page.rows.some((r) => r.job.state === s)));
  for (const row of page.rows) states.add(row.job.state);
  setOptions($("f-state"), [...states]);
  setOptions($("f-health"), ["Healthy", "Degraded", "Unknown"]);
  setOptions($("f-namespace"), [...new Set(clusters.map((c) => c.namespace || "(static)"))].sort());
  const byId = new Map(clusters.map((c) => [c.id, c]));
  setOptions($("f-cluster"), [...byId.keys()].sort(), (id) => (byId.has(id) ? `${clusterLabel(byId.get(id))} (${byId.get(id).source})` : id));
  if ($("f-text").value !== page.filter.q && document.activeElement !== $("f-text")) $("f-text").value = page.filter.q;
}

function renderList() {
  const f = page.filter;
  page.shown = sortRows(filterRows(page.rows, f), f.sort, f.dir, now());
  const pages = Math.max(1, Math.ceil(page.shown.length / PAGE_SIZE));
  if (f.page >= pages) f.page = pages - 1;
  page.visible = page.shown.slice(f.page * PAGE_SIZE, (f.page + 1) * PAGE_SIZE);
  table.render(page.visible, now());
  $("empty").hidden = page.shown.length > 0;
  setText($("empty"), page.rows.length ? "No job matches these filters." : "No jobs: no cluster has any, or none answered yet.");
  setText($("count"), page.shown.length === page.rows.length
    ? `Showing all ${plural(page.rows.length, "job", "jobs")}`
    : `Showing ${plural(page.shown.length, "job", "jobs")} of ${page.rows.length.toLocaleString("en")}`);
  setText($("page-info"), `Page ${f.page + 1} of ${pages}`);
  $("prev").disabled = f.page === 0;
  $("next").disabled = f.page >= pages - 1;
  $("pager").hidden = pages === 1;
  for (const th of document.querySelectorAll("#jobs thead th")) {
    const sorted = th.dataset.key === f.sort;
    th.setAttribute("aria-sort", sorted ? (f.dir === "asc" ? "ascending" : "descending") : "none");
  }
}

function showView() {
  const jobOpen = Boolean(page.filter.job);
  $("list-view").hidden = jobOpen;
  $("job-view").hidden = !jobOpen;
}

// ------------------------------------------------------------------ a job's page

function splitJobKey(key) {
  const at = key.lastIndexOf("/");
  return at > 0 ? [key.slice(0, at), key.slice(at + 1)] : [key, ""];
}

async function loadJob(fresh) {
  const key = page.filter.job;
  if (!key) return;
  const [cluster, jid] = splitJobKey(key);
  if (fresh) {
    page.job = null;
    page.jobKey = key;
    fill($("job-view"), el("p", {}, "Loading the job…"));
  }
  page.jobFetchedAt = Date.now();
  try {
    const response = await fetch(`api/clusters/${encodeURIComponent(cluster)}/jobs/${encodeURIComponent(jid)}`, { cache: "no-store" });
    if (page.filter.job !== key) return;
    const body = await response.json();
    if (!response.ok) {
      page.job = null;
      fill($("job-view"),
        el("nav", {}, el("a", { href: urlFor({ ...page.filter, job: "" }), id: "back" }, "← All jobs")),
        el("p", { class: "error" }, `${body.message}: ${(body.errors || []).join("; ")}`));
      return;
    }
    page.job = body.response;
    renderJobView();
  } catch (error) {
    if (page.filter.job === key && !page.job) {
      fill($("job-view"), el("p", { class: "error" }, `Could not load the job: ${error.message}`));
    }
  }
}

function renderJobView() {
  if (!page.job || page.jobKey !== page.filter.job) return;
  // The table's data is newer than the job's JSON for the state, health and cluster.
  const row = page.rows.find((r) => r.key === page.filter.job);
  const shown = row ? { ...page.job, job: row.job, cluster: { ...page.job.cluster, ...pick(row.cluster) } } : page.job;
  if (row) shown.health = { ...page.job.health, state: row.job.state, health: row.job.health, reasons: row.job.reasons };
  const container = $("job-view");
  // Rebuilt only when what it shows changed, so a selection or the focus stays.
  const signature = JSON.stringify(shown) + Math.floor(now() / 10000);
  if (container.dataset.signature === signature && container.querySelector("#job-title")) return;
  container.dataset.signature = signature;
  const y = window.scrollY;
  const focused = document.activeElement && document.activeElement.id;
  renderJob(container, shown, now(), urlFor({ ...page.filter, job: "" }));
  if (focused && $(focused)) $(focused).focus({ preventScroll: true });
  window.scrollTo(0, y);
}

function pick(cluster) {
  const { jobs, ...rest } = cluster;
  return rest;
}

function openJob(key) {
  page.listScroll = window.scrollY;
  page.filter.job = key;
  writeUrl(true);
  showView();
  window.scrollTo(0, 0);
  loadJob(true).then(() => $("job-title") && $("job-title").focus({ preventScroll: true }));
}

function closeJob() {
  page.filter.job = "";
  page.job = null;
  page.jobKey = null;
  writeUrl(true);
  showView();
  render();
  window.scrollTo(0, page.listScroll);
}

// ------------------------------------------------------------------ events

function onFilter(event) {
  const input = event.target;
  if (!FILTERS.includes(input.name)) return;
  page.filter[input.name] = input.value;
  page.filter.page = 0;
  writeUrl(false);
  renderList();
}

function wire() {
  $("filters").addEventListener("input", onFilter);
  $("filters").addEventListener("change", onFilter);
  $("filters").addEventListener("submit", (e) => e.preventDefault());
  $("f-clear").addEventListener("click", () => {
    for (const key of FILTERS) page.filter[key] = "";
    page.filter.page = 0;
    $("f-text").value = "";
    writeUrl(false);
    render();
  });
  for (const th of document.querySelectorAll("#jobs thead th")) {
    th.querySelector("button").addEventListener("click", () => {
      const f = page.filter;
      f.dir = f.sort === th.dataset.key && f.dir === "asc" ? "desc" : "asc";
      f.sort = th.dataset.key;
      f.page = 0;
      writeUrl(false);
      renderList();
    });
  }
  $("prev").addEventListener("click", () => { page.filter.page -= 1; writeUrl(false); renderList(); });
  $("next").addEventListener("click", () => { page.filter.page += 1; writeUrl(false); renderList(); });
  $("rows").addEventListener("click", (event) => {
    const link = event.target.closest("a.job-link");
    if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    openJob(link.closest("tr").dataset.key);
  });
  $("job-view").addEventListener("click", (event) => {
    const back = event.target.closest("#back");
    if (!back || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    event.preventDefault();
    closeJob();
  });
  $("rows").addEventListener("keydown", (event) => {
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    const links = [...document.querySelectorAll("#rows a.job-link")];
    const at = links.indexOf(document.activeElement);
    if (at < 0) return;
    const next = links[at + (event.key === "ArrowDown" ? 1 : -1)];
    if (next) {
      event.preventDefault();
      next.focus();
    }
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && page.filter.job) {
      event.preventDefault();
      closeJob();
    } else if (event.key === "/" && !page.filter.job && !["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName)) {
      event.preventDefault();
      $("f-text").focus();
    }
  });
  window.addEventListener("popstate", () => {
    const wasJob = page.filter.job;
    readUrl();
    if (page.filter.job && page.filter.job !== wasJob) loadJob(true);
    if (!page.filter.job) {
      page.job = null;
      page.jobKey = null;
    }
    render();
    showView();
  });
  // Ages and durations move with time: once a second, for the visible rows only.
  setInterval(() => {
    if (!page.loaded) return;
    table.tick(page.visible, now());
    for (const node of document.querySelectorAll("[data-time]")) {
      setText(node, `Last answer ${ago(Number(node.dataset.time), now())}`);
    }
    if (page.filter.job && page.job && Date.now() - page.jobFetchedAt > 10000) loadJob(false);
  }, 1000);
}

readUrl();
wire();
showView();
if (page.filter.job) loadJob(true);
refresh();
