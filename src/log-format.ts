// One log record → one readable terminal line:
//   14:02:07.381 INFO  lifecycle[0/3]   worker ready workerPid=41207
// time, level, component with [slot/workerId] when the record names them, the message, then the
// other fields as key=value. Pure: the default logger's terminal destination calls it per record.

const LEVELS: Readonly<Record<number, string>> = {
  10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL',
};
const COLORS: Readonly<Record<number, number>> = { 10: 90, 20: 36, 30: 32, 40: 33, 50: 31, 60: 35 };
/** Shown in their own columns, or (pino's `pid` and `hostname`: the writing process) not at all. */
const COLUMN_KEYS = new Set(['level', 'time', 'msg', 'component', 'workerId', 'slot', 'pid', 'hostname']);
const BARE_VALUE = /^[\w.:/@#+-]{1,200}$/;
const WHO_WIDTH = 16;

const pad = (value: number, width = 2): string => String(value).padStart(width, '0');

/** `HH:MM:ss.lll` in local time. */
export function clockOf(epochMs: number): string {
  const date = new Date(epochMs);
  const seconds = `${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${seconds}`;
}

/** `lifecycle[0/3]`: the component, then the slot and the worker id the record names (`-` for one it does not). */
export function whoOf(record: Readonly<Record<string, unknown>>): string {
  const component = typeof record.component === 'string' ? record.component : '-';
  const slot = record.slot;
  const workerId = record.workerId;
  if (slot === undefined && workerId === undefined) return component;
  return `${component}[${slot === undefined ? '-' : String(slot)}/${workerId === undefined ? '-' : String(workerId)}]`;
}

/** A field's value on one line: bare when it is a short plain word, else JSON (which escapes newlines and controls). */
export function valueText(key: string, value: unknown): string {
  if (key === 'err' && value !== null && typeof value === 'object') {
    const { code, message } = value as { code?: unknown; message?: unknown };
    return JSON.stringify(code === undefined ? String(message) : `${String(code)}: ${String(message)}`);
  }
  if (typeof value === 'string') return BARE_VALUE.test(value) ? value : JSON.stringify(value);
  if (value !== null && typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** The terminal line of a pino record (no trailing newline). */
export function formatRecord(record: Readonly<Record<string, unknown>>, useColor: boolean): string {
  const paint = (code: number, text: string): string => (useColor ? `\x1b[${code}m${text}\x1b[0m` : text);
  const levelNumber = typeof record.level === 'number' ? record.level : 30;
  const level = LEVELS[levelNumber] ?? String(record.level);
  const fields: string[] = [];
  for (const [key, value] of Object.entries(record)) {
    if (!COLUMN_KEYS.has(key) && value !== undefined) fields.push(`${paint(90, `${key}=`)}${valueText(key, value)}`);
  }
  const message = typeof record.msg === 'string' ? JSON.stringify(record.msg).slice(1, -1) : '';
  return [
    paint(90, clockOf(typeof record.time === 'number' ? record.time : Date.now())),
    paint(COLORS[levelNumber] ?? 0, level.padEnd(5)),
    paint(1, whoOf(record).padEnd(WHO_WIDTH)),
    message,
    ...fields,
  ].join(' ');
}

/** The terminal line of one line pino wrote: the formatted record, or the line itself if it is not a JSON object. */
export function formatLogLine(line: string, useColor: boolean): string {
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch {
    return line.replace(/\n$/, '');
  }
  if (record === null || typeof record !== 'object' || Array.isArray(record)) return line.replace(/\n$/, '');
  return formatRecord(record as Record<string, unknown>, useColor);
}
