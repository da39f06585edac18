// Stacked bar charts as inline SVG (no chart library): one bar per time bucket, one coloured
// segment per series, each segment optionally a link.

import { PALETTE, el } from "./core.js";

const HEIGHT = 180, LEFT = 44, BOTTOM = 22, TOP = 8;

/// `times`: the buckets' labels in order; `series`: `[{ label, counts: [n per bucket] }]`;
/// `href(seriesIndex, bucketIndex)`: where a segment leads (optional); `tick(time)`: an
/// axis label. `id` and `label` name the `<svg>` for tests and screen readers. The drawing
/// scales to the page's width: `width` (in units of the 180-unit height) sets its shape.
export function stackedBars({ id, label, times, series, href, tick = String, empty = "Nothing in this range.", width = 1000 }) {
  const totals = times.map((_, b) => series.reduce((sum, s) => sum + (s.counts[b] || 0), 0));
  const max = niceMax(Math.max(0, ...totals));
  // An image hides its content from screen readers: a chart of links is a group instead.
  const svg = el("svg", { class: "chart", id, viewBox: `0 0 ${width} ${HEIGHT + BOTTOM}`, role: href ? "group" : "img", "aria-label": label });
  const plot = HEIGHT - TOP;
  for (const step of [0, 0.5, 1]) {
    const y = HEIGHT - step * plot;
    svg.append(el("line", { svg: true, x1: LEFT, x2: width, y1: y, y2: y, class: "grid" }),
      el("text", { svg: true, x: LEFT - 6, y: y + 4, "text-anchor": "end", class: "axis" }, formatTick(step * max)));
  }
  if (!totals.some(Boolean)) {
    svg.append(el("text", { svg: true, x: (LEFT + width) / 2, y: HEIGHT / 2, "text-anchor": "middle", class: "axis" }, empty));
  }
  const slot = (width - LEFT) / Math.max(1, times.length);
  const bar = Math.max(1, Math.min(60, slot * 0.8));
  const labelEvery = Math.max(1, Math.ceil(times.length / 8));
  times.forEach((time, b) => {
    const x = LEFT + b * slot + (slot - bar) / 2;
    let y = HEIGHT;
    series.forEach((s, i) => {
      const n = s.counts[b] || 0;
      if (!n) return;
      const h = (n / max) * plot;
      y -= h;
      const text = `${tick(time)} · ${s.label}: ${n}`;
      const rect = el("rect", { svg: true, x, y, width: bar, height: h, fill: s.color || PALETTE[i % PALETTE.length] },
        el("title", { svg: true }, text));
      const target = href && href(i, b);
      svg.append(target ? el("a", { svg: true, href: target, "aria-label": text }, rect) : rect);
    });
    if (b % labelEvery === 0) {
      svg.append(el("text", { svg: true, x: LEFT + b * slot + slot / 2, y: HEIGHT + 15, "text-anchor": "middle", class: "axis" }, tick(time)));
    }
  });
  return svg;
}

/// A legend: a swatch and the label of each series, each a link when `href(i)` gives one.
export function legend(series, href) {
  return el("div", { class: "legend" }, series.map((s, i) => {
    const swatch = el("i");
    swatch.style.background = s.color || PALETTE[i % PALETTE.length];
    const target = href && href(i);
    return el("span", {}, swatch, target ? el("a", { href: target }, s.label) : s.label);
  }));
}

/// The y axis's top: 1, 2 or 5 times a power of ten, at least `n`.
function niceMax(n) {
  if (n <= 1) return 1;
  const power = 10 ** Math.floor(Math.log10(n));
  return [1, 2, 5, 10].map((m) => m * power).find((m) => m >= n);
}

function formatTick(value) {
  return Number.isInteger(value) ? value.toLocaleString("en-US") : value.toFixed(1);
}
