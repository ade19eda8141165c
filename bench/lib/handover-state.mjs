// The slot state of bench/handover.mjs: a Map of sessions of about `bytes` (v8.serialize), shared by its
// target's workers and by the bench, which times serialising the same Map in one process.
const ENTRY_CHARS = 1000;

/** `s<i>` → a string of about 1,000 one-byte characters; about `bytes` once serialised (at least one entry). */
export function buildSessions(bytes) {
  const map = new Map();
  const count = Math.max(1, Math.round(bytes / (ENTRY_CHARS + 16)));
  const filler = 'x'.repeat(ENTRY_CHARS);
  for (let i = 0; i < count; i++) map.set(`s${i}`, `s${i}:${filler}`);
  return map;
}
