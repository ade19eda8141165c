// IPv4 and IPv6 address ranges (CIDR), compiled once into numbers. A lookup parses the address in
// place (character codes into a fixed scratch buffer) and compares masked 32-bit words: no string,
// array or object is made per lookup, and every value stays a 32-bit integer (a larger one would be a
// heap number), so a check per connection costs well under a microsecond (bench/trust-check.mjs).

const DOT = 46;
const COLON = 58;

/** The address being looked at, 128 bits big-endian as signed words; an IPv4 address is in WORDS[3]. */
const WORDS = new Int32Array(4);
const GROUPS = new Uint16Array(8);

/** Family of a parsed address: 4 (also IPv4-mapped IPv6; the address is in WORDS[3]), 6, or 0 (not an address). */
type Family = 0 | 4 | 6;

function hexValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  const lower = code | 0x20;
  return lower >= 97 && lower <= 102 ? lower - 87 : -1;
}

/** Dotted-quad IPv4 in `text[start, end)` into WORDS[3]; false if it is not one (leading zeros refused). */
function parseIPv4(text: string, start: number, end: number): boolean {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const code = text.charCodeAt(i);
    if (code === DOT) {
      if (digits === 0 || ++dots > 3) return false;
      value = (value << 8) | part;
      part = 0;
      digits = 0;
    } else if (code >= 48 && code <= 57) {
      if (digits === 1 && part === 0) return false;
      part = part * 10 + code - 48;
      if (++digits > 3 || part > 255) return false;
    } else {
      return false;
    }
  }
  if (digits === 0 || dots !== 3) return false;
  WORDS[3] = (value << 8) | part;
  return true;
}

/** IPv6 in `text[start, end)` into GROUPS (with `::` expanded and a trailing dotted IPv4); false if it is not one. */
function parseIPv6(text: string, start: number, end: number): boolean {
  let count = 0;
  let gap = -1;
  let i = start;
  if (end - i >= 2 && text.charCodeAt(i) === COLON) {
    if (text.charCodeAt(i + 1) !== COLON) return false;
    gap = 0;
    i += 2;
  }
  while (i < end) {
    if (count === 8) return false;
    const groupStart = i;
    let value = 0;
    let digits = 0;
    for (let hex = hexValue(text.charCodeAt(i)); i < end && hex !== -1; hex = hexValue(text.charCodeAt(++i))) {
      if (++digits > 4) return false;
      value = value * 16 + hex;
    }
    if (i < end && text.charCodeAt(i) === DOT) {
      if (count > 6 || !parseIPv4(text, groupStart, end)) return false;
      const v4 = WORDS[3] as number;
      GROUPS[count++] = v4 >>> 16;
      GROUPS[count++] = v4 & 0xffff;
      i = end;
      break;
    }
    if (digits === 0) return false;
    GROUPS[count++] = value;
    if (i === end) break;
    if (text.charCodeAt(i) !== COLON || ++i === end) return false;
    if (text.charCodeAt(i) === COLON) {
      if (gap !== -1) return false;
      gap = count;
      i++;
    }
  }
  if (gap === -1) return count === 8;
  if (count === 8) return false;
  // Move the groups after `::` to the end and zero the ones it stands for.
  const tail = count - gap;
  for (let k = 1; k <= tail; k++) GROUPS[8 - k] = GROUPS[count - k] as number;
  for (let k = gap; k < 8 - tail; k++) GROUPS[k] = 0;
  return true;
}

/** Parses `text[0, end)` into WORDS. */
function parseAddress(text: string, end: number): Family {
  if (text.indexOf(':') === -1) return parseIPv4(text, 0, end) ? 4 : 0;
  // A zone id (`fe80::1%eth0`) names an interface of the host, not part of the address.
  const zone = text.indexOf('%');
  if (!parseIPv6(text, 0, zone === -1 || zone > end ? end : zone)) return 0;
  for (let w = 0; w < 4; w++) WORDS[w] = ((GROUPS[2 * w] as number) << 16) | (GROUPS[2 * w + 1] as number);
  return WORDS[0] === 0 && WORDS[1] === 0 && WORDS[2] === 0xffff ? 4 : 6;
}

/** The mask of the first `bits` of a 32-bit word (0 to 32), as a signed word. */
const maskOf = (bits: number): number => (bits <= 0 ? 0 : bits >= 32 ? -1 : -1 << (32 - bits));

/** A range parsed from text, or why the text is not one. */
type ParsedRange =
  | { family: 4; network: number; mask: number }
  | { family: 6; network: number[]; mask: number[] }
  | string;

function parseRange(text: string): ParsedRange {
  const slash = text.indexOf('/');
  const end = slash === -1 ? text.length : slash;
  if (text.indexOf('%') !== -1) return 'a zone id (`%eth0`) has no place in a trusted address';
  const family = parseAddress(text, end);
  if (family === 0) {
    return /^[a-z0-9.-]+$/i.test(text.slice(0, end)) && /[a-z]/i.test(text.slice(0, end))
      ? 'host names are not resolved: name the proxy by its address'
      : 'it is not an IPv4 or IPv6 address';
  }
  const isMapped = family === 4 && text.indexOf(':') !== -1;
  const width = family === 4 && !isMapped ? 32 : 128;
  let prefix = width;
  if (slash !== -1) {
    const digits = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(digits)) return `the prefix length after "/" must be a number from 0 to ${width}`;
    prefix = Number(digits);
    if (prefix > width) return `the prefix length of an ${width === 32 ? 'IPv4' : 'IPv6'} range is at most ${width}`;
  }
  // An IPv4-mapped range of at least 96 bits is an IPv4 range: mapped peers are matched as IPv4.
  if (family === 4 && (!isMapped || prefix >= 96)) {
    const bits = isMapped ? prefix - 96 : prefix;
    const mask = maskOf(bits);
    return { family: 4, network: (WORDS[3] as number) & mask, mask };
  }
  const mask = [0, 1, 2, 3].map((w) => maskOf(prefix - 32 * w));
  return { family: 6, network: [0, 1, 2, 3].map((w) => (WORDS[w] as number) & (mask[w] as number)), mask };
}

/** Why `text` is not an address or CIDR range; undefined when it is one. */
export function rangeError(text: string): string | undefined {
  const range = parseRange(text);
  return typeof range === 'string' ? range : undefined;
}

/**
 * A compiled list of addresses and CIDR ranges (`10.0.0.0/8`, `::1`, `fd00::/8`). Peers written as
 * IPv4-mapped IPv6 (`::ffff:10.1.2.3`) match the IPv4 ranges.
 */
export class AddressRanges {
  /** The list as given. */
  readonly entries: readonly string[];
  /** Network, mask: two words per IPv4 range. */
  readonly #v4: Int32Array;
  /** Network (4 words), mask (4 words) per IPv6 range. */
  readonly #v6: Int32Array;

  /** @throws {TypeError} naming the first entry that is not an address or range, and why. */
  constructor(entries: readonly string[]) {
    const v4: number[] = [];
    const v6: number[] = [];
    for (const entry of entries) {
      const range = parseRange(entry);
      if (typeof range === 'string') throw new TypeError(`${JSON.stringify(entry)}: ${range}`);
      if (range.family === 4) v4.push(range.network, range.mask);
      else v6.push(...range.network, ...range.mask);
    }
    this.entries = Object.freeze([...entries]);
    this.#v4 = Int32Array.from(v4);
    this.#v6 = Int32Array.from(v6);
  }

  /** Whether `address` (as a socket or a header gives it) is in one of the ranges; false for a non-address. */
  has(address: string): boolean {
    const family = parseAddress(address, address.length);
    if (family === 4) {
      const value = WORDS[3] as number;
      const ranges = this.#v4;
      for (let i = 0; i < ranges.length; i += 2) {
        if ((value & (ranges[i + 1] as number)) === ranges[i]) return true;
      }
      return false;
    }
    if (family === 0) return false;
    const ranges = this.#v6;
    for (let i = 0; i < ranges.length; i += 8) {
      if (((WORDS[0] as number) & (ranges[i + 4] as number)) === ranges[i] &&
          ((WORDS[1] as number) & (ranges[i + 5] as number)) === ranges[i + 1] &&
          ((WORDS[2] as number) & (ranges[i + 6] as number)) === ranges[i + 2] &&
          ((WORDS[3] as number) & (ranges[i + 7] as number)) === ranges[i + 3]) return true;
    }
    return false;
  }
}
