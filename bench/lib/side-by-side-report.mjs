// The RESULTS.md section of bench/pm2-side-by-side.mjs: one column per side, then each reload in detail.
import { formatNumber, median, table } from './report.mjs';

const total = (failures) => Object.values(failures).reduce((a, b) => a + b, 0);
const kinds = (failures) => {
  const entries = Object.entries(failures).filter(([, n]) => n > 0);
  return entries.length === 0 ? '–' : entries.map(([kind, n]) => `${kind} ${n}`).join(', ');
};
const fraction = ({ sticky, of }) => `${sticky}/${of}`;
const both = (a, b) => `${a.sticky + b.sticky}/${a.of + b.of}`;

export function renderSideBySide(results, setup) {
  const { settings } = setup;
  const perReload = (fn) => results.map((r) => r.reloads.map(fn).join(' · '));
  const lostKinds = (r) => {
    const counts = {};
    for (const kind of r.inflight.lost) counts[kind] = (counts[kind] ?? 0) + 1;
    return kinds(counts);
  };
  const out = [];
  // Busy: more runnable processes than cores, on average over the last minute, when a side began.
  const busy = results.some((r) => Number(r.loadAverage.split(' ')[0]) > setup.cores);
  out.push(`## \`sticky-runtime serve\` and PM2 cluster mode side by side (${setup.date}${busy ? ', busy machine' : ''})`);
  out.push('');
  out.push(`The same Express app (\`bench/targets/express-app.cjs\`), ${settings.workers} workers each, under the same load ` +
    `(${settings.sources} source addresses, half of them keep-alive), ${settings.reloads} rolling ` +
    `reload${settings.reloads === 1 ? '' : 's'} each, one side after the other on the same machine. ` +
    `Command: \`${setup.command}\` (after \`npm run build\`).`);
  out.push('');
  out.push(table(['', ...results.map((r) => r.name)], [
    ['failed requests per reload', ...perReload((x) => String(total(x.failures)))],
    ['of which', ...results.map((r) => kinds(sum(r.reloads.map((x) => x.failures))))],
    ['failed requests in the window before the first reload', ...results.map((r) => String(total(r.steady.failures)))],
    ['sources on their slot after each reload (one pid throughout the window, the slot they had before)',
      ...perReload((x) => both(x.keepAlive, x.close))],
    ['sources on one pid before the first reload: keep-alive / new connections',
      ...results.map((r) => `${fraction(r.baseline.keepAlive)} / ${fraction(r.baseline.close)}`)],
    ['sources that only ever reached one slot (whole run, reloads included): keep-alive / new connections',
      ...results.map((r) => `${r.oneSlot.keepAlive}/${setup.keepAliveSources.length} / ${r.oneSlot.close}/${setup.closeSources.length}`)],
    [`first answer after the start command (median of ${settings.starts})`, ...results.map((r) =>
      `${(median(r.startsMs) / 1000).toFixed(2)} s${r.startsMs.length > 1 ? ` (${r.startsMs.map((ms) => (ms / 1000).toFixed(2)).join(' · ')})` : ''}`)],
    [`in-flight requests lost on stop (of ${settings.inflight}, each ${settings.slowMs} ms long)`,
      ...results.map((r) => `${r.inflight.lost.length}${r.inflight.lost.length > 0 ? ` (${lostKinds(r)})` : ''}` +
        (r.inflight.arrived ? '' : ', not all had reached a worker'))],
    ['stop: SIGTERM to serve / `pm2 stop`, until done', ...results.map((r) => `${(r.stop.ms / 1000).toFixed(2)} s`)],
    ['time per reload (the reload command)', ...perReload((x) => `${(x.ms / 1000).toFixed(2)} s`)],
    ['requests answered under load', ...results.map((r) => `${formatNumber(r.served)} (${formatNumber(r.served / r.loadSeconds)}/s)`)],
  ]));
  out.push('');
  out.push('### Per reload');
  out.push('');
  out.push(table(['side', 'reload', 'command', 'answered', 'failed, by kind', 'on their slot after it: keep-alive / new connections'],
    results.flatMap((r) => r.reloads.map((x, i) => [
      r.name, String(i + 1), `${formatNumber(x.ms)} ms`, formatNumber(x.ok), `${total(x.failures)} (${kinds(x.failures)})`,
      `${fraction(x.keepAlive)} / ${fraction(x.close)}`,
    ]))));
  out.push('');
  out.push('### What is counted');
  out.push('');
  out.push('- **Load** (`bench/lib/attributed-client.mjs`, in the script\'s process): ' +
    `${setup.keepAliveSources.length} keep-alive connections, one each from ${setup.keepAliveSources[0]} … ` +
    `${setup.keepAliveSources.at(-1)}, and a new connection per request (\`Connection: close\`) from each of ` +
    `${setup.closeSources[0]} … ${setup.closeSources.at(-1)}; one \`GET /\` at a time per source, back to back` +
    `${settings.paceMs > 0 ? ` with ${settings.paceMs} ms between` : ''}. Every response names its worker's pid. The client ` +
    'honours `Connection: close` (a graceful close during a drain is no failure). A request failed when its ' +
    'connection was reset (`reset`), refused, closed by the server before the response (`closed`), or took more ' +
    'than 10 s, or the status was not 200.');
  out.push(`- **Per reload**: from the reload command until the next reload starts: the command (awaited), 0.5 s, ` +
    `then a ${settings.windowSeconds} s window of steady load. The stickiness figures are over that window: a source ` +
    'counts when every response in it came from one pid, of the slot the source had in the window before the first ' +
    'reload (sticky-runtime: the slot of `status`; PM2: `NODE_APP_INSTANCE` from `pm2 jlist`). A keep-alive source ' +
    'stays on its worker while its connection lasts under either runner; a reload closes the connection, and where ' +
    'it lands next is the runner\'s choice.');
  out.push(`- **Start**: from running the start command (\`sticky-runtime serve …\`; \`pm2 start ecosystem.config.cjs\` ` +
    'with PM2\'s daemon already running) until the first `200` on a fresh connection, tried every 10 ms.');
  out.push(`- **Stop**: after the load, ${settings.inflight} requests to \`GET /slow?ms=${settings.slowMs}\` from ` +
    `${setup.inflightSources[0]} … ${setup.inflightSources.at(-1)}; once each has received its first line from a worker, ` +
    'the cluster is told to stop. Lost: the response did not complete. The app installs no signal handler of its own. ' +
    'The stop\'s duration includes waiting for what is in flight, where the runner waits.');
  out.push('- **Why PM2 resets**: PM2 stops a worker (on reload and on `pm2 stop`) with SIGINT, then SIGKILL after ' +
    '`kill_timeout`; an app without a SIGINT handler of its own exits at once, and the requests in flight and ' +
    'keep-alive connections of that worker go with it. A sticky-runtime worker drains first: it answers what is in ' +
    'flight and closes each keep-alive connection after a response that says `Connection: close`.');
  out.push('');
  out.push('### Setup');
  out.push('');
  for (const r of results) out.push(`- ${r.name}: ${r.describe}.`);
  out.push(`- Date: ${setup.date}, duration ${setup.minutes.toFixed(1)} min (PM2's install included); source: ${setup.revision}`);
  out.push(`- Machine: ${setup.machine}; the load client used ${results.map((r) => r.clientCores.toFixed(2)).join(' / ')} ` +
    'cores (sticky-runtime / PM2 run). Other sessions shared the machine; the sides ran one after the other (load ' +
    `average when each began: ${results.map((r) => r.loadAverage).join(' / ')}), so the request rates compare only roughly.`);
  const unknown = results.filter((r) => r.unknownPids > 0);
  if (unknown.length > 0) {
    out.push(`- Pids answered that no \`status\` / \`jlist\` listed (counted as a slot of their own): ` +
      unknown.map((r) => `${r.name} ${r.unknownPids}`).join(', ') + '.');
  }
  return out.join('\n');
}

function sum(list) {
  const out = {};
  for (const failures of list) for (const [kind, n] of Object.entries(failures)) out[kind] = (out[kind] ?? 0) + n;
  return out;
}
