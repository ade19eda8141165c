// An app for bench/output-prefix.mjs: a server that writes lines of LINE_BYTES to stdout from the
// moment it loads, for DURATION_MS, either as fast as the destination takes them (RATE=0) or at RATE
// lines per second, then reports on stderr `RESULT lines=<n> ms=<elapsed>`.
import { createServer } from 'node:http';

const rate = Number(process.env.RATE ?? 0);
const duration = Number(process.env.DURATION_MS ?? 3000);
const line = `${'x'.repeat(Number(process.env.LINE_BYTES ?? 100) - 1)}\n`;
const started = performance.now();
let lines = 0;

function finish() {
  process.stderr.write(`RESULT lines=${lines} ms=${Math.round(performance.now() - started)}\n`);
}

if (rate === 0) {
  const burst = () => {
    for (let i = 0; i < 256; i++) process.stdout.write(line);
    lines += 256;
    if (performance.now() - started < duration) setImmediate(burst);
    else finish();
  };
  setImmediate(burst);
} else {
  // Every 10 ms, the lines due by now: the rate holds even when a tick comes late.
  const timer = setInterval(() => {
    const due = Math.min(rate * duration / 1000, Math.floor((performance.now() - started) * rate / 1000));
    for (; lines < due; lines++) process.stdout.write(line);
    if (performance.now() - started >= duration) {
      clearInterval(timer);
      finish();
    }
  }, 10);
}

export default createServer((_req, res) => res.end('ok'));
