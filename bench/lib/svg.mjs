// Just enough SVG for bench/chart.mjs: escaped elements, scales and axis ticks. No dependency, no
// DOM: every function returns a string. Coordinates are rounded to 0.1 px to keep files small and
// diffs of the committed chart readable.

const ENTITIES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' };
export const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ENTITIES[c]);

const r = (v) => Math.round(v * 10) / 10;

/** <name attrs>children</name>; attributes that are null/undefined are left out. */
export function el(name, attrs = {}, children = '') {
  const a = Object.entries(attrs)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => ` ${k}="${esc(typeof v === 'number' ? r(v) : v)}"`)
    .join('');
  return children === '' ? `<${name}${a}/>` : `<${name}${a}>${children}</${name}>`;
}

export const text = (x, y, s, attrs = {}) => el('text', { x, y, ...attrs }, esc(s));
export const line = (x1, y1, x2, y2, attrs = {}) => el('line', { x1, y1, x2, y2, ...attrs });
export const rect = (x, y, width, height, attrs = {}) => el('rect', { x, y, width, height, ...attrs });
export const circle = (cx, cy, radius, attrs = {}) => el('circle', { cx, cy, r: radius, ...attrs });
export const polyline = (points, attrs = {}) =>
  el('polyline', { points: points.map(([x, y]) => `${r(x)},${r(y)}`).join(' '), fill: 'none', ...attrs });

/** Maps [d0, d1] onto [r0, r1] linearly. */
export const linearScale = (d0, d1, r0, r1) => (v) => r0 + ((v - d0) / (d1 - d0 || 1)) * (r1 - r0);

/** Maps [d0, d1] (both > 0) onto [r0, r1] by log10. */
export function logScale(d0, d1, r0, r1) {
  const a = Math.log10(d0);
  const b = Math.log10(d1);
  return (v) => r0 + ((Math.log10(v) - a) / (b - a || 1)) * (r1 - r0);
}

/** A "nice" tick step (1, 2 or 5 times a power of ten) giving about `count` ticks up to max. */
export function niceStep(max, count = 5) {
  const raw = max / count;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

/** Powers of ten covering [min, max] (both > 0), e.g. 0.01 … 100. */
export function decades(min, max) {
  const out = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) out.push(10 ** e);
  return out;
}
