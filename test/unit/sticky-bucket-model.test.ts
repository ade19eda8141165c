import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BUCKETS, bucketOfAddress, bucketOfIPv4, bucketOfIPv6 } from '../../src/sticky/routing/address-bucket.js';
import { bucketTable } from '../../src/sticky/routing/bucket-table.js';
import { generateReusePortProgram, encodeProgram, BPF } from '../../src/sticky/planes/reuseport-program.js';
import { checkProgram, ipv4Packet, ipv6Packet, runProgram } from '../helpers/cbpf.js';

/** A deterministic stream of 32-bit values (xorshift). */
function* randomWords(seed: number, count: number): Generator<number> {
  let s = seed >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    yield s;
  }
}

const v4Text = (value: number): string => [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
const v6Text = (words: readonly number[]): string =>
  words.flatMap((w) => [(w >>> 16).toString(16), (w & 0xffff).toString(16)]).join(':');

describe('bucketOfAddress', () => {
  it('reads IPv4 text as its 32-bit value', () => {
    for (const value of randomWords(7, 500)) expect(bucketOfAddress(v4Text(value), 3)).toBe(bucketOfIPv4(value, 3));
    expect(bucketOfAddress('127.0.0.1', 0)).toBe(bucketOfIPv4(0x7f000001, 0));
  });

  it('reads IPv6 text in every notation as its four words', () => {
    const words = [0x20010db8, 0, 0, 1];
    const expected = bucketOfIPv6(0x20010db8, 0, 0, 1, 9);
    for (const text of ['2001:db8::1', '2001:DB8:0:0:0:0:0:1', '2001:db8:0::0:1', '2001:db8::0.0.0.1', '2001:db8::1%eth0', v6Text(words)]) {
      expect(bucketOfAddress(text, 9), text).toBe(expected);
    }
    expect(bucketOfAddress('::1', 0)).toBe(bucketOfIPv6(0, 0, 0, 1, 0));
    expect(bucketOfAddress('::', 0)).toBe(bucketOfIPv6(0, 0, 0, 0, 0));
    expect(bucketOfAddress('fe80::', 0)).toBe(bucketOfIPv6(0xfe800000, 0, 0, 0, 0));
    for (const value of randomWords(11, 200)) {
      const w = [value, Math.imul(value, 3) >>> 0, value ^ 0x5555, ~value >>> 0];
      expect(bucketOfAddress(v6Text(w), 5)).toBe(bucketOfIPv6(w[0]!, w[1]!, w[2]!, w[3]!, 5));
    }
  });

  it('counts IPv4-mapped IPv6 as the IPv4 address, in dotted and hex form', () => {
    for (const value of randomWords(3, 200)) {
      const v4 = bucketOfAddress(v4Text(value), 1);
      expect(bucketOfAddress(`::ffff:${v4Text(value)}`, 1)).toBe(v4);
      expect(bucketOfAddress(`::ffff:${(value >>> 16).toString(16)}:${(value & 0xffff).toString(16)}`, 1)).toBe(v4);
    }
  });

  it('answers -1 for text that is not an address', () => {
    for (const text of ['', 'unknown', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1.2.3.4:80', '1::2::3', ':1', '1:2', '12345::', '::g', '1:2:3:4:5:6:7:8:9', '[::1]', '::1.2.3']) {
      expect(bucketOfAddress(text, 0), text).toBe(-1);
    }
  });

  it('spreads addresses evenly over the buckets and depends on the seed', () => {
    const counts = new Uint32Array(BUCKETS);
    for (const value of randomWords(5, 102_400)) counts[bucketOfIPv4(value, 0)]! += 1;
    expect(Math.max(...counts)).toBeLessThan(160);
    expect(Math.min(...counts)).toBeGreaterThan(50);
    let same = 0;
    for (let i = 0; i < 1000; i++) if (bucketOfIPv4(0x7f000000 + i, 0) === bucketOfIPv4(0x7f000000 + i, 1)) same++;
    expect(same).toBeLessThan(20);
  });
});

describe('bucketTable', () => {
  const count = (table: ArrayLike<number>, slots: number): number[] => {
    const shares = new Array<number>(slots).fill(0);
    for (let b = 0; b < table.length; b++) shares[table[b] as number]! += 1;
    return shares;
  };

  it('gives every slot an exact share', () => {
    for (const n of [1, 2, 3, 5, 7, 16, 63, 64, 100, 1024]) {
      const shares = count(bucketTable(n, 0), n);
      expect(Math.max(...shares) - Math.min(...shares), `n=${n}`).toBeLessThanOrEqual(1);
      expect(shares.reduce((a, b) => a + b)).toBe(BUCKETS);
    }
  });

  it('moves exactly the new slot\'s buckets from n to n + 1, and restores the table from n + 1 to n', () => {
    for (let n = 1; n < 64; n++) {
      const before = bucketTable(n, 42);
      const after = bucketTable(n + 1, 42);
      let moved = 0;
      for (let b = 0; b < BUCKETS; b++) {
        if (before[b] !== after[b]) {
          moved++;
          expect(after[b]).toBe(n);
        }
      }
      expect(moved).toBe(Math.floor(BUCKETS / (n + 1)));
      expect(Array.from(bucketTable(n, 42))).toEqual(Array.from(before));
    }
  });

  it('is a function of the slot count and the seed', () => {
    const seed = 0xdead_beef;
    const grown = Array.from(bucketTable(9, seed));
    expect(bucketTable(9, seed)).toBe(bucketTable(9, seed));
    expect(Array.from(bucketTable(9, 0))).not.toEqual(grown);
    expect(() => bucketTable(0, 0)).toThrow(RangeError);
    expect(() => bucketTable(1025, 0)).toThrow(RangeError);
  });

  it('moves about 1/(n + 1) of many clients on scale-up, and none on the way back', () => {
    const clients = [...randomWords(99, 20_000)];
    for (const n of [2, 4, 8]) {
      const small = bucketTable(n, 0);
      const large = bucketTable(n + 1, 0);
      const moved = clients.filter((c) => small[bucketOfIPv4(c, 0)] !== large[bucketOfIPv4(c, 0)]).length / clients.length;
      expect(moved).toBeGreaterThan(1 / (n + 1) - 0.02);
      expect(moved).toBeLessThan(1 / (n + 1) + 0.02);
    }
  });
});

describe('generateReusePortProgram', () => {
  it('computes the model\'s slot for IPv4, IPv6 and never aborts', () => {
    for (const [n, seed] of [[1, 0], [2, 0], [3, 7], [8, 0xffff_ffff], [64, 1], [1024, 3]] as const) {
      const table = bucketTable(n, seed);
      const program = generateReusePortProgram(table, seed, n);
      expect(checkProgram(program), `n=${n}`).toBeUndefined();
      expect(program.length).toBeLessThanOrEqual(BPF.MAXINSNS);
      for (const value of randomWords(n * 31 + 1, 2000)) {
        const v4 = runProgram(program, ipv4Packet(value));
        expect(v4.aborted).toBe(false);
        expect(v4.value).toBe(table[bucketOfAddress(v4Text(value), seed)]);
        const words = [value, 0, value >>> 3, 1];
        const v6 = runProgram(program, ipv6Packet(words));
        expect(v6.aborted).toBe(false);
        expect(v6.value).toBe(table[bucketOfAddress(v6Text(words), seed)]);
      }
      // Every bucket is reachable and returns its own slot.
      for (let bucket = 0; bucket < BUCKETS; bucket++) {
        const tail = program.slice(program.findIndex((insn) => insn.code === (BPF.ALU | BPF.RSH) && insn.k === 22) + 1);
        expect(runProgram([{ code: BPF.LD | BPF.W | BPF.ABS, jt: 0, jf: 0, k: (BPF.SKF_NET_OFF >>> 0) }, ...tail],
          { protocol: 0x800, network: new Uint8Array([0, 0, bucket >> 8, bucket & 255]) }).value).toBe(table[bucket]);
      }
    }
  });

  it('stays far below the 4096-instruction limit for any slot count', () => {
    for (const n of [2, 16, 64, 256, 1024]) expect(generateReusePortProgram(bucketTable(n, 0), 0, n).length).toBeLessThan(2200);
  });

  it('refuses a table that names a slot the group lacks (the kernel would hash instead)', () => {
    expect(() => generateReusePortProgram(bucketTable(3, 0), 0, 2)).toThrow(RangeError);
  });

  it('encodes each instruction as [code | jt << 16 | jf << 24, k]', () => {
    const words = encodeProgram([{ code: 0x15, jt: 3, jf: 200, k: 0x86dd }, { code: 0x20, jt: 0, jf: 0, k: 0xfff0_0000 }]);
    expect(Array.from(words)).toEqual([(0x15 | (3 << 16) | (200 << 24)) >>> 0, 0x86dd, 0x20, 0xfff0_0000]);
  });
});

describe('canWorkerListenOnHandle', () => {
  it('is true from Node 20.13, where a cluster worker listens on a received handle itself', async () => {
    const { canWorkerListenOnHandle } = await import('../../src/sticky/planes/reuseport-native.js');
    expect(['20.12.2', '18.20.0', '20.0.0'].map((v) => canWorkerListenOnHandle(v))).toEqual([false, false, false]);
    expect(['20.13.0', '20.20.2', '22.1.0', '24.0.0'].map((v) => canWorkerListenOnHandle(v))).toEqual([true, true, true, true]);
  });
});

describe('loading the native part elsewhere', () => {
  it('answers with the reason instead of throwing: another OS, an old Node, a missing or foreign binary', async () => {
    const { loadFrom } = await import('../../src/sticky/planes/reuseport-native.js');
    const prebuilds = fileURLToPath(new URL('../../prebuilds', import.meta.url));
    const here = process.arch;
    expect(loadFrom(prebuilds, 'darwin', here, '22.0.0'))
      .toEqual({ reason: 'kernel steering needs Linux (this is darwin)' });
    expect(loadFrom(prebuilds, 'linux', here, '20.12.0'))
      .toEqual({ reason: 'kernel steering needs Node >= 20.13 (this is 20.12.0)' });
    expect(loadFrom(prebuilds, 'linux', 'none', '22.0.0').reason)
      .toMatch(/did not load from .*linux-none\/reuseport.node: ENOENT/);
    // A binary for another architecture passes its checksum, then the dynamic loader refuses it (not thrown).
    const foreign = process.arch === 'arm64' ? 'x64' : 'arm64';
    const { reason } = loadFrom(prebuilds, 'linux', foreign, '22.0.0');
    expect(reason).toMatch(/did not load from/);
    expect(reason).not.toMatch(/SHA256SUMS/);
  });
});
