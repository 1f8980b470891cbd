// berth's dashboard: the page's state, kept current from the event stream,
// and its rendering.

import { Api, Unauthorized } from "./api.js";
import { h, bytes, span, rel, refreshRel, shortID } from "./format.js";
import { drawDisk } from "./chart.js";

const $ = (sel) => document.querySelector(sel);
const TOKEN_KEY = "berth-token";
const RESULTS = 25; // recent results shown
const KEEP_ENDED = 200; // ended jobs kept in memory

const state = {
  jobs: new Map(), // id -> job, as the API gives it
  snapshots: [],
  disk: [], // samples of GET /v1/disk
  gc: [], // runs, newest first
  runtimes: [],
  logJob: "",
  logAbort: null,
  logOpener: "",
};

let api = new Api(sessionStorage.getItem(TOKEN_KEY) || "");
let session = null; // AbortController of the connection in use

const live = (j) => j.state === "queued" || j.state === "running";
const rank = (j) => (j.state === "queued" ? 0 : j.state === "running" ? 1 : 2);

// ---- connection ------------------------------------------------------------

function setStatus(kind, text) {
  const el = $("#status");
  el.dataset.state = kind;
  el.textContent = text;
}

function notice(text, bad = false) {
  const el = $("#notice");
  el.textContent = text;
  el.classList.toggle("bad", bad);
  el.hidden = !text;
}

function showLogin(message) {
  session?.abort();
  session = null;
  stopLog();
  $("#main").hidden = true;
  $("#signout").hidden = true;
  $("#login").hidden = false;
  $("#login-error").textContent = message || "";
  setStatus("signed-out", "Not connected: a token is needed");
  $("#token").focus();
}

function signedOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  api = new Api("");
  showLogin("The daemon refused the token.");
}

// failed handles an error of a request: a refused token signs out, an
// aborted request is nothing, anything else is noticed.
function failed(err, what) {
  if (err instanceof Unauthorized) return signedOut();
  if (err?.name === "AbortError" || session?.signal.aborted) return;
  notice(`${what}: ${err.message}`, true);
}

function connect() {
  $("#login").hidden = true;
  $("#main").hidden = false;
  $("#signout").hidden = !api.token;
  session?.abort();
  session = new AbortController();
  const signal = session.signal;
  eventLoop(signal);
  const timers = [
    setInterval(() => refreshRel(), 5000),
    setInterval(() => { drawChart(); }, 30000),
    setInterval(() => loadRuntimes(signal), 30000),
  ];
  signal.addEventListener("abort", () => timers.forEach(clearInterval));
}

const sleep = (ms, signal) => new Promise((resolve) => {
  const t = setTimeout(resolve, ms);
  signal.addEventListener("abort", () => { clearTimeout(t); resolve(); }, { once: true });
});

// eventLoop follows the event stream, reconnecting when it drops; each
// time it opens, the page loads everything again (what it missed).
async function eventLoop(signal) {
  let delay = 500;
  while (!signal.aborted) {
    try {
      await api.events(onEvent, {
        signal,
        onOpen: () => {
          delay = 500;
          setStatus("live", "Live");
          loadAll(signal);
        },
      });
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof Unauthorized) return signedOut();
    }
    if (signal.aborted) return;
    setStatus("reconnecting", "Connection lost: reconnecting…");
    await sleep(delay, signal);
    delay = Math.min(delay * 2, 10000);
  }
}

function onEvent(ev) {
  if (ev.job) {
    upsert(ev.job);
    renderJobs();
    if (ev.job.id === state.logJob) renderLogState();
  }
  if (ev.type === "snapshot.committed" || ev.type === "snapshot.evicted") {
    later("snapshots", 100, loadSnapshots);
    later("disk", 1000, loadDisk);
  }
  if (ev.type === "gc.done" && ev.gc) {
    addGCRun(ev.gc);
    renderGC();
    later("disk", 1000, loadDisk);
  }
}

// later runs fn once, ms after the first of the calls that name key.
const pending = new Map();
function later(key, ms, fn) {
  if (pending.has(key)) return;
  pending.set(key, setTimeout(() => { pending.delete(key); fn(session?.signal); }, ms));
}

function loadAll(signal) {
  loadJobs(signal);
  loadSnapshots(signal);
  loadDisk(signal);
  loadGC(signal);
  loadRuntimes(signal);
}

// ---- data -------------------------------------------------------------------

// upsert records a job, unless the page knows a later state of it.
function upsert(j) {
  const old = state.jobs.get(j.id);
  if (old && rank(old) > rank(j)) return;
  state.jobs.set(j.id, j);
}

async function loadJobs(signal) {
  try {
    const [running, queued, recent] = await Promise.all([
      api.get("/v1/jobs?state=running&limit=1000", { signal }),
      api.get("/v1/jobs?state=queued&limit=1000", { signal }),
      api.get("/v1/jobs?limit=50", { signal }),
    ]);
    const seen = new Set();
    for (const j of [...running.jobs, ...queued.jobs, ...recent.jobs]) {
      upsert(j);
      seen.add(j.id);
    }
    // Jobs the page saw live that ended meanwhile, out of the lists.
    const stale = [...state.jobs.values()].filter((j) => live(j) && !seen.has(j.id));
    await Promise.all(stale.map(async (j) => {
      try {
        upsert(await api.get(`/v1/jobs/${encodeURIComponent(j.id)}`, { signal }));
      } catch (err) {
        if (err.status === 404) state.jobs.delete(j.id);
        else throw err;
      }
    }));
    renderJobs();
  } catch (err) {
    failed(err, "Could not load the jobs");
  }
}

async function loadSnapshots(signal) {
  try {
    state.snapshots = (await api.get("/v1/snapshots", { signal })).snapshots;
    renderSnapshots();
    drawChart();
  } catch (err) {
    failed(err, "Could not load the snapshots");
  }
}

async function loadDisk(signal) {
  try {
    state.disk = (await api.get("/v1/disk", { signal })).samples;
    drawChart();
  } catch (err) {
    failed(err, "Could not load the disk history");
  }
}

function addGCRun(run) {
  if (state.gc.some((r) => r.started === run.started && r.ended === run.ended)) return;
  state.gc.unshift(run);
  state.gc.length = Math.min(state.gc.length, 100);
}

async function loadGC(signal) {
  try {
    const runs = (await api.get("/v1/gc/runs", { signal })).runs;
    const known = state.gc;
    state.gc = runs;
    for (const r of known.reverse()) addGCRun(r);
    state.gc.sort((a, b) => new Date(b.ended) - new Date(a.ended));
    renderGC();
  } catch (err) {
    failed(err, "Could not load the gc runs");
  }
}

async function loadRuntimes(signal) {
  try {
    state.runtimes = (await api.get("/v1/runtimes", { signal })).runtimes;
    renderEngines();
  } catch (err) {
    failed(err, "Could not check the engines");
  }
}

// ---- rendering --------------------------------------------------------------

// keepFocus re-renders with fn, then gives the focus back to the control
// that had it (controls are named by data-focus).
function keepFocus(fn) {
  const key = document.activeElement?.dataset?.focus;
  fn();
  if (key) document.querySelector(`[data-focus="${CSS.escape(key)}"]`)?.focus();
}

function where(j) {
  const item = j.spec.work_item;
  return [h("span", {}, j.spec.project), item ? h("span", { class: "sub" }, " / ", item) : h("span", { class: "sub" }, " (no work item)")];
}

function logButton(j) {
  return h("button", {
    type: "button", class: "small quiet", "data-focus": `log-${j.id}`,
    "aria-label": `Show the log of job ${j.id}`, onclick: () => showLog(j.id, `log-${j.id}`),
  }, "Log");
}

function jobCell(j) {
  return h("td", { class: "id", title: j.id }, shortID(j.id));
}

function stateTag(j) {
  return h("span", { class: `tag ${j.state === "running" ? "run" : "warn"}` }, j.state);
}

function outcome(j) {
  if (j.state === "cancelled") return h("span", { class: "tag warn" }, "cancelled");
  if (j.state === "failed") {
    const kind = (j.error?.type || "").split("/").pop();
    return [h("span", { class: "tag bad", title: j.error?.detail || "" }, "failed"), kind ? h("span", { class: "sub" }, ` ${kind}`) : ""];
  }
  if (j.timed_out) return h("span", { class: "tag bad" }, "timed out");
  if (j.oom_killed) return h("span", { class: "tag bad" }, "out of memory");
  const code = j.exit_code ?? "?";
  return h("span", { class: `tag ${code === 0 ? "ok" : "bad"}` }, `exit ${code}`);
}

// Why a job ran on its base image (its snapshot_reason), in words.
const missReasons = {
  none: "no snapshot yet",
  expired: "expired",
  "base-changed": "base image changed",
  "image-gone": "image gone",
  "layer-limit": "layer limit",
  "pull-failed": "pull failed",
};

function snapshotOutcome(j) {
  if (j.snapshot_hit) {
    // pulled: the snapshot came from the registry (another host made it).
    return [h("span", { class: "tag ok" }, "hit"), j.pulled ? h("span", { class: "sub" }, " pulled") : ""];
  }
  const reason = j.snapshot_reason || "";
  if (!j.spec.work_item || reason === "no-work-item" || reason === "disabled") {
    return h("span", { class: "sub" }, reason === "disabled" ? "snapshots off" : "no work item");
  }
  return [h("span", { class: "tag warn" }, "miss"), reason ? h("span", { class: "sub" }, ` ${missReasons[reason] || reason}`) : ""];
}

function commitOutcome(j) {
  const c = j.commit;
  if (!c) return h("span", { class: "sub" }, "—");
  if (c.committed) {
    const out = [h("span", { class: "tag ok" }, `committed g${c.generation}`), h("span", { class: "sub" }, ` ${bytes(c.size)}`)];
    // Shared through the registry (its digest there), or kept by this host when the push failed.
    if (c.push_error) out.push(" ", h("span", { class: "tag warn", title: c.push_error }, "not shared"));
    else if (c.digest) out.push(h("span", { class: "sub", title: c.digest }, " shared"));
    return out;
  }
  if (c.error) return h("span", { class: "tag bad", title: c.error }, "commit failed");
  return [h("span", { class: "sub" }, "not committed"), c.reason ? h("span", { class: "sub" }, `: ${c.reason}`) : ""];
}

function renderJobs() {
  const all = [...state.jobs.values()];
  const running = all.filter(live).sort((a, b) => rank(b) - rank(a) || new Date(a.created) - new Date(b.created));
  const ended = all.filter((j) => !live(j)).sort((a, b) => new Date(b.ended || b.created) - new Date(a.ended || a.created));
  for (const j of ended.slice(KEEP_ENDED)) state.jobs.delete(j.id);

  keepFocus(() => {
    $("#jobs tbody").replaceChildren(...running.map((j) => h("tr", { "data-job": j.id, "data-state": j.state },
      jobCell(j),
      h("td", {}, stateTag(j)),
      h("td", {}, where(j)),
      h("td", { class: "cmd mono", title: j.spec.cmd.join(" ") }, j.spec.cmd.join(" ")),
      h("td", {}, rel("ago", j.started || j.created)),
      h("td", {}, logButton(j)))));
    $("#jobs-count").textContent = running.length ? `(${running.length})` : "";
    $("#jobs-empty").hidden = running.length > 0;
    $("#jobs").hidden = running.length === 0;

    const recent = ended.slice(0, RESULTS);
    $("#results tbody").replaceChildren(...recent.map((j) => h("tr", { "data-job": j.id, "data-state": j.state },
      jobCell(j),
      h("td", {}, where(j)),
      h("td", { "data-cell": "outcome" }, outcome(j)),
      h("td", { "data-cell": "snapshot" }, snapshotOutcome(j)),
      h("td", { "data-cell": "commit" }, commitOutcome(j)),
      h("td", { class: "num" }, j.durations ? span(j.durations.total / 1e6) : "—"),
      h("td", {}, rel("ago", j.ended || j.created)),
      h("td", {}, logButton(j)))));
    $("#results-empty").hidden = recent.length > 0;
    $("#results").hidden = recent.length === 0;
  });
}

function renderSnapshots() {
  const byProject = new Map();
  for (const sn of state.snapshots) {
    if (!byProject.has(sn.project)) byProject.set(sn.project, []);
    byProject.get(sn.project).push(sn);
  }
  const projects = [...byProject.keys()].sort();
  keepFocus(() => {
    $("#snapshots").replaceChildren(...projects.map((p, i) => {
      const snaps = byProject.get(p).sort((a, b) => a.work_item.localeCompare(b.work_item) || a.runtime.localeCompare(b.runtime));
      const total = snaps.reduce((n, sn) => n + sn.size_bytes, 0);
      const hid = `snap-p${i}`;
      return h("div", { class: "project", "data-project": p },
        h("h3", { id: hid }, p, h("span", { class: "count" }, ` · ${snaps.length} snapshot${snaps.length === 1 ? "" : "s"} · ${bytes(total)}`)),
        h("div", { class: "scroll", role: "region", "aria-labelledby": hid, tabindex: 0 },
          h("table", {},
            h("thead", {}, h("tr", {}, ...["Work item", "#Generation", "#Size", "#Layers", "Age", "Last used", "TTL left", "Runtime"]
              .map((c) => h("th", { scope: "col", class: c.startsWith("#") ? "num" : null }, c.replace("#", ""))),
              h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Delete")))),
            h("tbody", {}, ...snaps.map((sn) => h("tr", { "data-snapshot": `${sn.project}/${sn.work_item}`, "data-runtime": sn.runtime },
              h("td", {}, sn.work_item),
              h("td", { class: "num" }, `g${sn.generation}`),
              h("td", { class: "num" }, bytes(sn.size_bytes)),
              h("td", { class: "num" }, sn.layers),
              h("td", {}, rel("ago", sn.created)),
              h("td", {}, rel("ago", sn.last_used)),
              h("td", { "data-cell": "ttl" }, sn.expires ? rel("left", sn.expires) : h("span", { class: "sub" }, "no TTL")),
              h("td", {}, sn.runtime),
              h("td", {}, h("button", {
                type: "button", class: "small danger", "data-focus": `del-${sn.runtime}/${sn.project}/${sn.work_item}`,
                "aria-label": `Delete the snapshot of work item ${sn.work_item} in project ${sn.project}`,
                onclick: (e) => askDelete(sn, e.currentTarget),
              }, "Delete"))))))));
    }));
  });
  $("#snapshots-count").textContent = state.snapshots.length ? `(${state.snapshots.length})` : "";
  $("#snapshots-empty").hidden = state.snapshots.length > 0;
}

// current is the usage now, from the snapshots the page has.
function current() {
  const by = new Map();
  let size = 0;
  for (const sn of state.snapshots) {
    const u = by.get(sn.project) || { project: sn.project, size_bytes: 0, snapshots: 0 };
    u.size_bytes += sn.size_bytes;
    u.snapshots++;
    by.set(sn.project, u);
    size += sn.size_bytes;
  }
  return { time: new Date().toISOString(), size_bytes: size, snapshots: state.snapshots.length, projects: [...by.values()] };
}

function drawChart() {
  if ($("#main").hidden) return;
  drawDisk($("#disk"), state.disk, current());
}

function renderGC() {
  const runs = state.gc.slice(0, 20);
  $("#gc tbody").replaceChildren(...runs.map((r) => {
    const rep = r.report;
    const removed = rep.removed_images.length + rep.removed_containers.length + rep.dropped_entries.length;
    const notes = [];
    if (rep.dry_run) notes.push(h("span", { class: "tag" }, "dry run"));
    if (r.error) notes.push(h("span", { class: "tag bad", title: r.error }, "error"));
    return h("tr", { "data-gc": r.started },
      h("td", {}, rel("ago", r.ended), " ", ...notes),
      h("td", {}, r.trigger),
      h("td", { class: "num" }, rep.evicted.length,
        rep.evicted_shared?.length ? h("span", { class: "sub", title: rep.evicted_shared.join("\n") }, ` +${rep.evicted_shared.length} shared`) : ""),
      h("td", { class: "num", title: `${rep.removed_images.length} images, ${rep.removed_containers.length} containers, ${rep.dropped_entries.length} entries` }, removed),
      h("td", { class: "num" }, bytes(rep.bytes_reclaimed)),
      h("td", { class: "num" }, span(new Date(r.ended) - new Date(r.started))));
  }));
  $("#gc-empty").hidden = runs.length > 0;
  $("#gc").hidden = runs.length === 0;
}

function renderEngines() {
  $("#engines").replaceChildren(...state.runtimes.map((rt) => {
    const facts = [["Driver", rt.driver], ["Version", rt.version], ["Engine", rt.engine_version]]
      .filter(([, v]) => v);
    if (!rt.healthy) facts.push(["Why", rt.health]);
    if (rt.capabilities?.length) facts.push(["Can", rt.capabilities.join(", ")]);
    return h("li", { "data-runtime": rt.name, "data-healthy": String(rt.healthy) },
      h("div", { class: "name" }, rt.name,
        rt.default ? h("span", { class: "tag" }, "default") : "",
        h("span", { class: `tag ${rt.healthy ? "ok" : "bad"}` }, rt.healthy ? "healthy" : "unavailable")),
      h("dl", {}, ...facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])));
  }));
}

// ---- the log ----------------------------------------------------------------

const LOG_MAX = 1 << 20; // characters kept in the log view

function stopLog() {
  state.logAbort?.abort();
  state.logAbort = null;
}

function renderLogState(text) {
  const j = state.jobs.get(state.logJob);
  const el = $("#log-state");
  if (text) el.dataset.stream = text;
  const stream = el.dataset.stream || "";
  el.textContent = [j ? `job ${j.state}` : "", stream].filter(Boolean).join(" · ");
}

function showLog(id, opener) {
  stopLog();
  const ac = new AbortController();
  state.logAbort = ac;
  state.logJob = id;
  state.logOpener = opener || "";
  const pre = $("#log");
  pre.replaceChildren();
  pre.dataset.job = id;
  pre.dataset.ended = "false";
  $("#log-h").textContent = `Log of job ${shortID(id)}`;
  $("#log-panel").hidden = false;
  renderLogState("following…");
  pre.focus();
  $("#log-panel").scrollIntoView({ block: "nearest" });
  let size = 0;
  api.logs(id, true, (stream, text) => {
    if (ac.signal.aborted) return;
    const stick = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.append(stream === "stderr" ? h("span", { class: "stderr" }, text) : document.createTextNode(text));
    size += text.length;
    while (size > LOG_MAX && pre.firstChild) {
      size -= pre.firstChild.textContent.length;
      pre.firstChild.remove();
    }
    if (stick) pre.scrollTop = pre.scrollHeight;
  }, ac.signal).then(() => {
    if (ac.signal.aborted) return;
    pre.dataset.ended = "true";
    renderLogState("end of the log");
  }, (err) => {
    if (ac.signal.aborted || session?.signal.aborted) return;
    if (err instanceof Unauthorized) return signedOut();
    renderLogState(`the stream broke: ${err.message}`);
  });
}

function closeLog() {
  stopLog();
  state.logJob = "";
  $("#log-panel").hidden = true;
  const opener = state.logOpener && document.querySelector(`[data-focus="${CSS.escape(state.logOpener)}"]`);
  (opener || $("#jobs-h")).focus();
}

// ---- deleting a snapshot ----------------------------------------------------

function confirmDelete(sn) {
  const dlg = $("#confirm");
  const runtimes = state.snapshots.filter((x) => x.project === sn.project && x.work_item === sn.work_item).length;
  $("#confirm-text").textContent =
    `The snapshot of work item “${sn.work_item}” in project “${sn.project}” (generation ${sn.generation}, ` +
    `${bytes(sn.size_bytes)}${runtimes > 1 ? `, and those of its ${runtimes - 1} other runtimes` : ""}) is removed with its image. ` +
    `The work item's next job starts from its base image again.`;
  dlg.returnValue = "";
  return new Promise((resolve) => {
    dlg.addEventListener("close", () => resolve(dlg.returnValue === "delete"), { once: true });
    dlg.showModal();
  });
}

async function askDelete(sn, button) {
  if (!(await confirmDelete(sn))) return;
  button.disabled = true;
  try {
    const path = `/v1/snapshots/${encodeURIComponent(sn.project)}/${encodeURIComponent(sn.work_item)}`;
    const { removed } = await api.json("DELETE", path, { signal: session?.signal });
    notice(`Deleted ${removed.length} snapshot${removed.length === 1 ? "" : "s"} of ${sn.project} / ${sn.work_item}.`);
    $("#snapshots-h").focus();
    await loadSnapshots(session?.signal);
  } catch (err) {
    button.disabled = false;
    failed(err, `Could not delete the snapshot of ${sn.project} / ${sn.work_item}`);
  }
}

// ---- start ------------------------------------------------------------------

function start() {
  $("#confirm-keep").addEventListener("click", () => $("#confirm").close("keep"));
  $("#confirm-delete").addEventListener("click", () => $("#confirm").close("delete"));
  $("#log-close").addEventListener("click", closeLog);
  $("#engines-refresh").addEventListener("click", () => loadRuntimes(session?.signal));
  $("#signout").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    api = new Api("");
    showLogin("");
  });
  $("#login").addEventListener("submit", (e) => {
    e.preventDefault();
    const token = $("#token").value.trim();
    if (!token) return;
    $("#token").value = "";
    sessionStorage.setItem(TOKEN_KEY, token);
    api = new Api(token);
    connect();
    $("#main").focus();
  });
  $("#snapshots-h").tabIndex = -1;
  $("#jobs-h").tabIndex = -1;
  let ro;
  if ("ResizeObserver" in window) {
    let width = 0;
    ro = new ResizeObserver(([entry]) => {
      const w = Math.round(entry.contentRect.width);
      if (w !== width) { width = w; drawChart(); }
    });
    ro.observe($("#disk"));
  }
  // A token in the address's fragment (#token=...) is taken, then removed
  // from the address.
  const m = location.hash.match(/^#token=(.+)$/);
  if (m) {
    api = new Api(decodeURIComponent(m[1]));
    sessionStorage.setItem(TOKEN_KEY, api.token);
    history.replaceState(null, "", location.pathname + location.search);
  }
  if (document.documentElement.dataset.auth === "bearer" && !api.token) showLogin("");
  else connect();
}

start();
