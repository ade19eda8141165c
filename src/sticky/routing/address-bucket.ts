// Client address → bucket, computed exactly as the kernel's BPF program computes it (see
// reuseport-program.ts), so the primary hop, the kernel data plane and the tests agree on every
// client. Pure and allocation-free: it runs once per connection on the primary hop.
//
// The program reads the source address as 32-bit big-endian words (BPF loads are network order):
// IPv4 is one word, IPv6 four. Each word is folded in with a multiply and a shift-xor, then
// murmur3's finaliser spreads the bits and the top 10 bits name one of 1024 buckets.

/** Buckets of the address model; a power of two so the bucket is the hash's top bits. */
export const BUCKETS = 1024;
export const BUCKET_SHIFT = 22;
export const WORD_MULTIPLIER = 0xcc9e2d51;
export const WORD_SHIFT = 15;
export const FINAL_MULTIPLIER_1 = 0x85ebca6b;
export const FINAL_SHIFT_1 = 13;
export const FINAL_MULTIPLIER_2 = 0xc2b2ae35;
export const FINAL_SHIFT_2 = 16;

function foldWord(hash: number, word: number): number {
  const h = Math.imul(hash ^ word, WORD_MULTIPLIER);
  return (h ^ (h >>> WORD_SHIFT)) >>> 0;
}

function finish(hash: number): number {
  let h = Math.imul(hash, FINAL_MULTIPLIER_1);
  h ^= h >>> FINAL_SHIFT_1;
  h = Math.imul(h, FINAL_MULTIPLIER_2);
  h ^= h >>> FINAL_SHIFT_2;
  return h >>> BUCKET_SHIFT;
}

/** Bucket of an IPv4 address given as its 32-bit value (`a.b.c.d` → a << 24 | … | d). */
export function bucketOfIPv4(address: number, seed: number): number {
  return finish(foldWord(seed, address));
}

/** Bucket of an IPv6 address given as four 32-bit words, most significant first. */
export function bucketOfIPv6(w0: number, w1: number, w2: number, w3: number, seed: number): number {
  return finish(foldWord(foldWord(foldWord(foldWord(seed, w0), w1), w2), w3));
}

/** `a.b.c.d` from `start` to `end` → its 32-bit value, or -1 when it is not a dotted quad. */
function parseIPv4(text: string, start: number, end: number): number {
  let value = 0;
  let part = 0;
  let digits = 0;
  let parts = 0;
  for (let i = start; i <= end; i++) {
    const c = i === end ? 46 : text.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || part > 255) return -1;
      value = value * 256 + part;
      parts++;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      part = part * 10 + (c - 48);
      digits++;
    } else {
      return -1;
    }
  }
  return parts === 4 ? value >>> 0 : -1;
}

/** Reused by parseIPv6: eight 16-bit groups. */
const GROUPS = new Uint16Array(8);

/** Parses IPv6 text (`::` compression, an IPv4 tail, a `%zone` ignored) into GROUPS; false if invalid. */
function parseIPv6(text: string): boolean {
  let end = text.indexOf('%');
  if (end === -1) end = text.length;
  let count = 0;
  let gap = -1;
  let i = 0;
  if (text.charCodeAt(0) === 58 && text.charCodeAt(1) === 58) {
    gap = 0;
    i = 2;
  }
  while (i < end) {
    let j = i;
    let value = 0;
    let isDotted = false;
    for (; j < end; j++) {
      const c = text.charCodeAt(j);
      if (c === 58) break;
      if (c === 46) isDotted = true;
      const digit = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
      if (digit === -1 && c !== 46) return false;
      value = value * 16 + digit;
    }
    if (isDotted) {
      const v4 = parseIPv4(text, i, end);
      if (v4 === -1 || count > 6) return false;
      GROUPS[count++] = v4 >>> 16;
      GROUPS[count++] = v4 & 0xffff;
      break;
    }
    if (j === i || j - i > 4 || count === 8) return false;
    GROUPS[count++] = value;
    if (j === end) break;
    if (text.charCodeAt(j + 1) === 58) {
      if (gap !== -1) return false;
      gap = count;
      i = j + 2;
    } else {
      i = j + 1;
      if (i === end) return false;
    }
  }
  if (gap === -1) return count === 8;
  if (count === 8) return false;
  const tail = count - gap;
  for (let k = 0; k < tail; k++) GROUPS[7 - k] = GROUPS[count - 1 - k] as number;
  for (let k = gap; k < 8 - tail; k++) GROUPS[k] = 0;
  return true;
}

const word = (high: number): number => (((GROUPS[high] as number) << 16) | (GROUPS[high + 1] as number)) >>> 0;

/**
 * Bucket of a textual client address (as Node reports it or a header carries it); IPv4-mapped IPv6
 * (`::ffff:a.b.c.d`) is the IPv4 address, as the kernel hands such clients to the program.
 * -1 when the text is not an address.
 */
export function bucketOfAddress(address: string, seed: number): number {
  if (address.indexOf(':') === -1) {
    const v4 = parseIPv4(address, 0, address.length);
    return v4 === -1 ? -1 : bucketOfIPv4(v4, seed);
  }
  if (!parseIPv6(address)) return -1;
  if (GROUPS[0] === 0 && GROUPS[1] === 0 && GROUPS[2] === 0 && GROUPS[3] === 0 && GROUPS[4] === 0
    && GROUPS[5] === 0xffff) {
    return bucketOfIPv4(word(6), seed);
  }
  return bucketOfIPv6(word(0), word(2), word(4), word(6), seed);
}
