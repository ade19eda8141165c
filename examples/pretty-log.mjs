// A small pino destination that prints one readable line per log record instead of JSON:
//
//   14:02:07.381 INFO  lifecycle     worker ready workerId=3 pid=41207
//   14:02:09.012 INFO  app#3         websocket open client=127.0.0.2
//
// Layout: time, level, component (with #workerId when the record has one), message, other fields.
// Use it as the second argument of pino(): `pino({ level: 'info' }, prettyDestination())`.

const LEVELS = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const COLORS = { 10: 90, 20: 36, 30: 32, 40: 33, 50: 31, 60: 35 };
// Printed in their own columns. pino's base fields (pid, hostname) are left out: create the logger
// with `base: null` so that a `pid` field means the pid of the event's process.
const SKIPPED = new Set(['level', 'time', 'msg', 'component', 'workerId', 'hostname']);

function clock(epochMs) {
  const date = new Date(epochMs);
  const pad = (n, width = 2) => String(n).padStart(width, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

function formatValue(key, value) {
  if (key === 'err' && value !== null && typeof value === 'object') {
    const text = value.code === undefined ? value.message : `${value.code}: ${value.message}`;
    return JSON.stringify(text);
  }
  if (typeof value === 'string') return /^[\w.:/@#+-]+$/.test(value) ? value : JSON.stringify(value);
  return typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
}

function formatRecord(record, useColor) {
  const paint = (code, text) => (useColor ? `\x1b[${code}m${text}\x1b[0m` : text);
  const level = LEVELS[record.level] ?? String(record.level);
  // The library binds workerId only in workers; in the primary it is a field of the event instead.
  const isWorkerLine = record.component === 'worker' || record.component === 'app';
  const who = record.component === undefined ? '-'
    : isWorkerLine && record.workerId !== undefined ? `${record.component}#${record.workerId}` : record.component;
  const fields = Object.entries(record)
    .filter(([key]) => !SKIPPED.has(key) || (key === 'workerId' && !isWorkerLine))
    .map(([key, value]) => `${paint(90, `${key}=`)}${formatValue(key, value)}`);
  return [
    paint(90, clock(record.time ?? Date.now())),
    paint(COLORS[record.level] ?? 0, level.padEnd(5)),
    paint(1, who.padEnd(12)),
    record.msg ?? '',
    ...fields,
  ].join(' ');
}

/** A pino destination: parses each JSON line pino writes and prints it formatted to `out`. */
export function prettyDestination(out = process.stdout) {
  const useColor = out.isTTY === true && process.env.NO_COLOR === undefined;
  return {
    write(line) {
      let record;
      try {
        record = JSON.parse(line);
      } catch {
        out.write(line);
        return;
      }
      out.write(`${formatRecord(record, useColor)}\n`);
    },
  };
}
