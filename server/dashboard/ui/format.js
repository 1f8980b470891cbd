// Formatting and DOM helpers. Text from the daemon (project and work item
// names, commands, logs) is only ever set as text, never parsed as HTML.

// h makes an element: h("td", { class: "num" }, "text", child, ...).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const units = ["B", "kB", "MB", "GB", "TB", "PB"];

// bytes formats a size in decimal units, as docker does (1.2 MB).
export function bytes(n) {
  if (!Number.isFinite(n)) return "?";
  let i = 0;
  while (Math.abs(n) >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return `${i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
}

// span formats a duration in milliseconds: 850 ms, 3.2 s, 4m 12s, 2h 3m, 3d 4h.
export function span(ms) {
  if (!Number.isFinite(ms)) return "?";
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60), h = Math.floor(m / 60), d = Math.floor(h / 24);
  if (m < 60) return `${m}m ${Math.floor(s % 60)}s`;
  if (h < 24) return `${h}h ${m % 60}m`;
  return `${d}d ${h % 24}h`;
}

// ago formats how long ago a time was: just now, 12 s ago, 3m 4s ago.
export function ago(t, now = Date.now()) {
  const ms = now - new Date(t).getTime();
  if (ms < 2000) return "just now";
  return `${span(ms)} ago`;
}

// left formats the time left until t: 23h 59m, or expired.
export function left(t, now = Date.now()) {
  const ms = new Date(t).getTime() - now;
  return ms <= 0 ? "expired" : span(ms);
}

// clock formats a time of day, or a date and time when it is not today.
export function clock(t, now = new Date()) {
  const d = new Date(t);
  const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return d.toDateString() === now.toDateString() ? time : `${d.toLocaleDateString([], { month: "short", day: "numeric" })} ${time}`;
}

// rel is a <time> element whose text the page keeps current: how long ago
// t was ("ago") or how long until it ("left").
export function rel(kind, t) {
  const iso = new Date(t).toISOString();
  const el = h("time", { datetime: iso, "data-rel": kind, title: new Date(t).toLocaleString() });
  el.textContent = kind === "left" ? left(t) : ago(t);
  return el;
}

// refreshRel updates every rel element's text.
export function refreshRel(root = document) {
  const now = Date.now();
  for (const el of root.querySelectorAll("time[data-rel]")) {
    const t = el.getAttribute("datetime");
    el.textContent = el.dataset.rel === "left" ? left(t, now) : ago(t, now);
  }
}

// shortID shortens a job ID for display.
export function shortID(id) { return id.length > 14 ? id.slice(0, 12) + "…" : id; }
