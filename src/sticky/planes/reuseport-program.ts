import {
  BUCKET_SHIFT, FINAL_MULTIPLIER_1, FINAL_MULTIPLIER_2, FINAL_SHIFT_1, FINAL_SHIFT_2, WORD_MULTIPLIER, WORD_SHIFT,
} from '../routing/index.js';

// The classic BPF program the kernel runs for each new connection of a reuseport group: it
// computes the client address's bucket exactly as address-bucket.ts does and returns the slot that
// bucket belongs to, which is the index of the slot's socket in the group.
//
// Facts it relies on (Linux >= 4.6, SO_ATTACH_REUSEPORT_CBPF): the program sees the packet from
// after the TCP header, so the address is read through SKF_NET_OFF (the network header); on a
// dual-stack group SKF_AD_PROTOCOL tells IPv4 from IPv6 (IPv4-mapped clients arrive as IPv4). A
// load that fails aborts the program with 0 and an index >= the group size falls back to the
// kernel's own hash — both silent — so every load here is inside the fixed IP header and the
// table never names a slot the group lacks. CBPF has no maps or loops: the table is generated as
// a binary search over runs of buckets, at most 2 × 1024 + a few instructions of the 4096 allowed.
// https://github.com/torvalds/linux/blob/master/net/core/sock_reuseport.c (run_bpf_filter)

export interface BpfInstruction {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/** linux/filter.h and linux/bpf_common.h. */
export const BPF = {
  LD: 0x00, LDX: 0x01, ALU: 0x04, JMP: 0x05, RET: 0x06, MISC: 0x07,
  W: 0x00, H: 0x08, B: 0x10, ABS: 0x20,
  MUL: 0x20, RSH: 0x70, XOR: 0xa0,
  JA: 0x00, JEQ: 0x10, JGE: 0x30,
  K: 0x00, X: 0x08, A: 0x10,
  TAX: 0x00,
  SKF_AD_OFF: -0x1000, SKF_AD_PROTOCOL: 0, SKF_NET_OFF: -0x100000,
  ETH_P_IPV6: 0x86dd,
  MAXINSNS: 4096,
} as const;

const MAX_JUMP = 255;
const op = (code: number, k = 0, jt = 0, jf = 0): BpfInstruction => ({ code, jt, jf, k: k >>> 0 });
const loadNetWord = (offset: number): BpfInstruction => op(BPF.LD | BPF.W | BPF.ABS, BPF.SKF_NET_OFF + offset);
const aluK = (operation: number, k: number): BpfInstruction => op(BPF.ALU | operation | BPF.K, k);
const xorX = (): BpfInstruction => op(BPF.ALU | BPF.XOR | BPF.X);
const tax = (): BpfInstruction => op(BPF.MISC | BPF.TAX);

/** A ^= word (in X on entry for IPv6); A = A * M; A ^= A >> 15. Ends with the hash in A. */
function foldWord(): BpfInstruction[] {
  return [xorX(), aluK(BPF.MUL, WORD_MULTIPLIER), tax(), aluK(BPF.RSH, WORD_SHIFT), xorX()];
}

function ipv4Hash(seed: number): BpfInstruction[] {
  // The source address is at offset 12 of the IPv4 header.
  return [op(BPF.LD | BPF.W | BPF.ABS, BPF.SKF_NET_OFF + 12), aluK(BPF.XOR, seed), aluK(BPF.MUL, WORD_MULTIPLIER),
    tax(), aluK(BPF.RSH, WORD_SHIFT), xorX()];
}

function ipv6Hash(seed: number): BpfInstruction[] {
  // The source address is at offsets 8-23 of the IPv6 header: X carries the running hash.
  const code: BpfInstruction[] = [op(BPF.LD | BPF.W | BPF.ABS, BPF.SKF_NET_OFF + 8), aluK(BPF.XOR, seed),
    aluK(BPF.MUL, WORD_MULTIPLIER), tax(), aluK(BPF.RSH, WORD_SHIFT), xorX()];
  for (const offset of [12, 16, 20]) code.push(tax(), loadNetWord(offset), ...foldWord());
  return code;
}

function finish(): BpfInstruction[] {
  return [aluK(BPF.MUL, FINAL_MULTIPLIER_1), tax(), aluK(BPF.RSH, FINAL_SHIFT_1), xorX(),
    aluK(BPF.MUL, FINAL_MULTIPLIER_2), tax(), aluK(BPF.RSH, FINAL_SHIFT_2), xorX(), aluK(BPF.RSH, BUCKET_SHIFT)];
}

interface Run { start: number; slot: number }

/** A holds the bucket: binary search over runs[lo, hi) for the slot. */
function searchRuns(runs: readonly Run[], lo: number, hi: number): BpfInstruction[] {
  if (hi - lo === 1) return [op(BPF.RET | BPF.K, (runs[lo] as Run).slot)];
  const mid = (lo + hi) >>> 1;
  const below = searchRuns(runs, lo, mid);
  const above = searchRuns(runs, mid, hi);
  const start = (runs[mid] as Run).start;
  // Conditional jumps reach 255 instructions: past that, step over an unconditional jump.
  const test = below.length <= MAX_JUMP
    ? [op(BPF.JMP | BPF.JGE | BPF.K, start, below.length, 0)]
    : [op(BPF.JMP | BPF.JGE | BPF.K, start, 0, 1), op(BPF.JMP | BPF.JA, below.length)];
  return [...test, ...below, ...above];
}

function runsOf(table: ArrayLike<number>): Run[] {
  const runs: Run[] = [];
  for (let bucket = 0; bucket < table.length; bucket++) {
    const slot = table[bucket] as number;
    if (runs.length === 0 || (runs[runs.length - 1] as Run).slot !== slot) runs.push({ start: bucket, slot });
  }
  return runs;
}

/**
 * The program for a bucket → slot table. `groupSize` is the number of sockets in the reuseport
 * group the program will serve: a table naming a slot outside it is refused, because the kernel
 * would silently use its own hash for those clients.
 * @throws RangeError when the table names a slot >= groupSize or the program would be too long.
 */
export function generateReusePortProgram(table: ArrayLike<number>, seed: number, groupSize: number): BpfInstruction[] {
  for (let bucket = 0; bucket < table.length; bucket++) {
    if ((table[bucket] as number) >= groupSize) {
      throw new RangeError(`bucket ${bucket} names slot ${table[bucket]} of a group of ${groupSize}`);
    }
  }
  const runs = runsOf(table);
  const v6 = ipv6Hash(seed);
  const v4 = ipv4Hash(seed);
  const program = [
    op(BPF.LD | BPF.H | BPF.ABS, BPF.SKF_AD_OFF + BPF.SKF_AD_PROTOCOL),
    op(BPF.JMP | BPF.JEQ | BPF.K, BPF.ETH_P_IPV6, 0, v6.length + 1),
    ...v6,
    op(BPF.JMP | BPF.JA, v4.length),
    ...v4,
    ...finish(),
    ...searchRuns(runs, 0, runs.length),
  ];
  if (program.length > BPF.MAXINSNS) {
    throw new RangeError(`program of ${program.length} instructions exceeds ${BPF.MAXINSNS}`);
  }
  return program;
}

/** The layout the native attach takes: per instruction [code | jt << 16 | jf << 24, k]. */
export function encodeProgram(program: readonly BpfInstruction[]): Uint32Array {
  const words = new Uint32Array(program.length * 2);
  program.forEach((insn, i) => {
    words[2 * i] = (insn.code | (insn.jt << 16) | (insn.jf << 24)) >>> 0;
    words[2 * i + 1] = insn.k >>> 0;
  });
  return words;
}
