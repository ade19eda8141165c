// A model, not a measurement: how many new connections per second each target could take on a machine
// with more cores, from the CPU it spent per connection on this one (bench/run.mjs measures it). Two
// limits: the primary is one thread, so it routes at most 1 s / (its µs per connection); and the
// machine has `cores` seconds of CPU per second for everything the target does per connection
// (primary + workers). What the model leaves out: the kernel's share outside the target's processes
// (softirq time, the loopback itself), the load generator (here on the same cores), memory bandwidth,
// lock contention in the accept queue or the kernel's reuseport group, and workers ≠ cores.

/** New connections/s the model gives `cores` cores for `primaryMicros` + `workersMicros` µs per connection. */
export function modelRate({ primaryMicros, workersMicros }, cores) {
  const total = primaryMicros + workersMicros;
  if (!(total > 0) || !(cores > 0)) return 0;
  const machine = (cores * 1e6) / total;
  // A primary below 1 µs per connection (it only watches) is no limit at any size the chart shows.
  const primary = primaryMicros >= 1 ? 1e6 / primaryMicros : Infinity;
  return Math.min(machine, primary);
}

/** The core count from which the primary, not the machine, limits the model (Infinity: never). */
export function primaryBoundFrom({ primaryMicros, workersMicros }) {
  if (!(primaryMicros >= 1)) return Infinity;
  return (primaryMicros + workersMicros) / primaryMicros;
}

const WIDTH = 720;
const HEIGHT = 420;
const MARGIN = { left: 80, right: 230, top: 40, bottom: 50 };
const COLORS = ['#1b6ca8', '#d1495b', '#2e8b57', '#edae49', '#6a4c93', '#00798c', '#555555'];

function escapeXml(text) {
  return String(text).replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]);
}

function formatRate(rate) {
  if (rate >= 1e6) return `${(rate / 1e6).toFixed(rate >= 1e7 ? 0 : 1)}M`;
  if (rate >= 1e3) return `${Math.round(rate / 1e3)}k`;
  return String(Math.round(rate));
}

/**
 * The chart: new connections/s against cores (both axes log2, 1 … maxCores), one line per series
 * (`{ label, primaryMicros, workersMicros }`), the measured core count marked.
 */
export function scalingSvg(series, { maxCores = 64, measuredCores = 2, title } = {}) {
  const cores = [];
  for (let n = 1; n <= maxCores; n *= 2) cores.push(n);
  const rates = series.map((s) => cores.map((n) => modelRate(s, n)));
  const all = rates.flat().filter((r) => r > 0);
  const low = 2 ** Math.floor(Math.log2(Math.min(...all)));
  const high = 2 ** Math.ceil(Math.log2(Math.max(...all)));
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (n) => MARGIN.left + (Math.log2(n) / Math.log2(maxCores)) * plotW;
  const y = (r) => MARGIN.top + plotH - ((Math.log2(r) - Math.log2(low)) / (Math.log2(high) - Math.log2(low))) * plotH;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${MARGIN.left}" y="22" font-size="14">${escapeXml(title ?? 'New connections/s against cores (model)')}</text>`,
  ];
  for (let r = low; r <= high; r *= 2) {
    parts.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${y(r)}" y2="${y(r)}" stroke="#e5e5e5"/>`,
      `<text x="${MARGIN.left - 6}" y="${y(r) + 4}" text-anchor="end">${formatRate(r)}</text>`);
  }
  for (const n of cores) {
    parts.push(`<line x1="${x(n)}" x2="${x(n)}" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}" stroke="#e5e5e5"/>`,
      `<text x="${x(n)}" y="${MARGIN.top + plotH + 16}" text-anchor="middle">${n}</text>`);
  }
  parts.push(`<line x1="${x(measuredCores)}" x2="${x(measuredCores)}" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}"`
    + ' stroke="#999" stroke-dasharray="4 3"/>',
  `<text x="${x(measuredCores) + 4}" y="${MARGIN.top + 12}" fill="#666">measured here</text>`,
  `<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 12}" text-anchor="middle">cores</text>`);
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const points = cores.map((n, j) => `${x(n).toFixed(1)},${y(rates[i][j]).toFixed(1)}`).join(' ');
    parts.push(`<polyline points="${points}" fill="none" stroke="${color}" stroke-width="2"/>`,
      `<line x1="${MARGIN.left + plotW + 14}" x2="${MARGIN.left + plotW + 34}" y1="${MARGIN.top + 8 + i * 20}"`
        + ` y2="${MARGIN.top + 8 + i * 20}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${MARGIN.left + plotW + 40}" y="${MARGIN.top + 12 + i * 20}">${escapeXml(s.label)}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
