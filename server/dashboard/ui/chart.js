// The chart of the disk the snapshots use per project over time: an
// inline SVG, one step line per project, with a legend that says the same
// in text.

import { h, bytes, clock } from "./format.js";

const NS = "http://www.w3.org/2000/svg";
const palette = ["#0b5fcc", "#d4731c", "#1a7f37", "#8250df", "#c0262d", "#0e8a8a", "#9a6700", "#bf3989"];

function s(tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
function niceCeil(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// usageOf returns a sample's size per project.
function usageOf(sample) {
  const m = new Map();
  for (const p of sample.projects || []) m.set(p.project, p);
  return m;
}

// drawDisk draws samples (oldest first, as GET /v1/disk gives them) and
// current, the usage now, into the figure fig.
export function drawDisk(fig, samples, current) {
  const points = samples.map((x) => ({ t: new Date(x.time).getTime(), u: usageOf(x) }));
  if (current) points.push({ t: Date.now(), u: usageOf(current) });
  points.sort((a, b) => a.t - b.t);
  const names = [...new Set(points.flatMap((p) => [...p.u.keys()]))].sort();
  const color = (name) => palette[names.indexOf(name) % palette.length];

  const width = Math.max(280, Math.floor(fig.clientWidth || 600));
  const height = width < 500 ? 180 : 220;
  const m = { l: 62, r: 14, t: 12, b: 26 };
  const t0 = points.length ? points[0].t : Date.now();
  const t1 = Math.max(points.length ? points[points.length - 1].t : t0, t0 + 60_000);
  let top = 0;
  for (const p of points) for (const u of p.u.values()) top = Math.max(top, u.size_bytes);
  top = niceCeil(top);
  const x = (t) => m.l + ((t - t0) / (t1 - t0)) * (width - m.l - m.r);
  const y = (v) => height - m.b - (v / top) * (height - m.t - m.b);

  const summary = names.length
    ? names.map((n) => `${n}: ${bytes(current ? usageOf(current).get(n)?.size_bytes || 0 : 0)}`).join(", ")
    : "no snapshot";
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-labelledby": "disk-title disk-desc" },
    s("title", { id: "disk-title" }, "Disk used by snapshots per project over time"),
    s("desc", { id: "disk-desc" }, `From ${clock(t0)} to now. Now: ${summary}.`));
  for (const frac of [0, 0.5, 1]) {
    const yy = y(top * frac);
    svg.append(s("line", { class: "axis", x1: m.l, x2: width - m.r, y1: yy, y2: yy }));
    if (names.length || frac === 0) {
      svg.append(s("text", { x: m.l - 6, y: yy + 4, "text-anchor": "end" }, frac === 0 ? "0" : bytes(top * frac)));
    }
  }
  svg.append(s("text", { x: m.l, y: height - 8 }, clock(t0)));
  svg.append(s("text", { x: width - m.r, y: height - 8, "text-anchor": "end" }, "now"));
  for (const name of names) {
    let d = "";
    points.forEach((p, i) => {
      const v = p.u.get(name)?.size_bytes || 0;
      d += i === 0 ? `M${x(p.t).toFixed(1)} ${y(v).toFixed(1)}` : `H${x(p.t).toFixed(1)}V${y(v).toFixed(1)}`;
    });
    d += `H${x(t1).toFixed(1)}`;
    svg.append(s("path", { d, fill: "none", stroke: color(name), "stroke-width": 2, "data-project": name }));
  }
  if (!names.length) {
    svg.append(s("text", { x: (m.l + width - m.r) / 2, y: height / 2, "text-anchor": "middle" }, "No snapshot yet"));
  }

  const legend = h("ul", { class: "legend" });
  const now = current ? usageOf(current) : new Map();
  for (const name of names) {
    const u = now.get(name);
    const swatch = s("svg", { class: "swatch-svg", width: 14, height: 8, "aria-hidden": "true" },
      s("line", { x1: 0, x2: 14, y1: 4, y2: 4, stroke: color(name), "stroke-width": 3 }));
    legend.append(h("li", { "data-project": name }, swatch, " ", h("strong", {}, name), ` ${bytes(u?.size_bytes || 0)}`,
      h("span", { class: "sub" }, ` · ${u?.snapshots || 0} snapshot${u?.snapshots === 1 ? "" : "s"}`)));
  }
  const caption = h("figcaption", { class: "muted" },
    current ? `${bytes(current.size_bytes)} in ${current.snapshots} snapshot${current.snapshots === 1 ? "" : "s"} now. ` : "",
    "The history lives in the daemon's memory: it starts again when the daemon restarts.");
  fig.replaceChildren(svg, legend, caption);
}
