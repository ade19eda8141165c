// Seeded 32-bit hashing (FNV-1a body, murmur3 finaliser) and jump consistent hashing.
// Pure and allocation-free: these run once per connection.

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** murmur3's finaliser: spreads FNV's weak low bits over the whole word. */
function fmix32(input: number): number {
  let h = input;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Hashes `text` from index `start` (so a prefix can be skipped without slicing). */
export function hashString(text: string, seed: number, start = 0): number {
  let h = (FNV_OFFSET ^ seed) >>> 0;
  for (let i = start; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), FNV_PRIME);
  return fmix32(h);
}

export function hashBytes(bytes: Uint8Array, seed: number): number {
  let h = (FNV_OFFSET ^ seed) >>> 0;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ (bytes[i] as number), FNV_PRIME);
  return fmix32(h);
}

export function hashNumbers(values: readonly number[], seed: number): number {
  let h = (FNV_OFFSET ^ seed) >>> 0;
  for (let i = 0; i < values.length; i++) h = Math.imul(h ^ ((values[i] as number) | 0), FNV_PRIME);
  return fmix32(h);
}

/**
 * Jump consistent hash (Lamping & Veach): maps a key to one of `buckets` so that growing from n to
 * n + 1 buckets moves only ~1/(n + 1) of the keys, all of them into the new bucket. The per-key
 * random sequence comes from a 32-bit mixer instead of the paper's 64-bit LCG, which JS numbers lack.
 */
export function jumpHash(key: number, buckets: number): number {
  let state = key >>> 0;
  let b = -1;
  let j = 0;
  while (j < buckets) {
    b = j;
    state = (state + 0x9e3779b9) >>> 0;
    // A uniform value in (0, 1], from the top 24 bits of the mixed state.
    const r = ((fmix32(state) >>> 8) + 1) / 16_777_216;
    j = Math.floor((b + 1) / r);
  }
  return b;
}
