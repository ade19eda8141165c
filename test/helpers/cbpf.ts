import { BPF, type BpfInstruction } from '../../src/sticky/planes/reuseport-program.js';

// A classic BPF interpreter with the semantics of the kernel's reuseport hook, for what the
// generated programs use: loads from the network header (SKF_NET_OFF) and of the protocol
// (SKF_AD_PROTOCOL), 32-bit ALU, jumps, returns. A load outside the packet aborts with 0, as the
// kernel does; `aborted` reports it so a test can tell it from a real 0.

export interface Packet {
  /** ETH_P_IP (0x0800) or ETH_P_IPV6 (0x86dd). */
  protocol: number;
  /** The network header and what follows it. */
  network: Uint8Array;
}

export interface RunResult { value: number; aborted: boolean; steps: number }

function load(packet: Packet, k: number, size: number): number | undefined {
  const offset = k | 0;
  if (offset === BPF.SKF_AD_OFF + BPF.SKF_AD_PROTOCOL) return packet.protocol;
  if (offset >= BPF.SKF_NET_OFF && offset < BPF.SKF_AD_OFF) {
    const at = offset - BPF.SKF_NET_OFF;
    if (at + size > packet.network.length) return undefined;
    let value = 0;
    for (let i = 0; i < size; i++) value = value * 256 + (packet.network[at + i] as number);
    return value >>> 0;
  }
  // The reuseport hook sees no payload in a SYN: any other absolute load is out of bounds.
  return undefined;
}

export function runProgram(program: readonly BpfInstruction[], packet: Packet): RunResult {
  let a = 0;
  let x = 0;
  let pc = 0;
  let steps = 0;
  while (pc < program.length) {
    const insn = program[pc] as BpfInstruction;
    steps++;
    pc++;
    const cls = insn.code & 0x07;
    const src = insn.code & 0x08 ? x : insn.k;
    if (cls === BPF.LD) {
      const size = (insn.code & 0x18) === BPF.W ? 4 : (insn.code & 0x18) === BPF.H ? 2 : 1;
      if ((insn.code & 0xe0) !== BPF.ABS) throw new Error(`unsupported load ${insn.code}`);
      const value = load(packet, insn.k, size);
      if (value === undefined) return { value: 0, aborted: true, steps };
      a = value;
    } else if (cls === BPF.ALU) {
      const operation = insn.code & 0xf0;
      if (operation === BPF.MUL) a = Math.imul(a, src) >>> 0;
      else if (operation === BPF.XOR) a = (a ^ src) >>> 0;
      else if (operation === BPF.RSH) a = src >= 32 ? 0 : a >>> src;
      else throw new Error(`unsupported alu ${insn.code}`);
    } else if (cls === BPF.MISC) {
      if (insn.code !== (BPF.MISC | BPF.TAX)) throw new Error(`unsupported misc ${insn.code}`);
      x = a;
    } else if (cls === BPF.JMP) {
      const operation = insn.code & 0xf0;
      if (operation === BPF.JA) pc += insn.k;
      else if (operation === BPF.JEQ) pc += a === src ? insn.jt : insn.jf;
      else if (operation === BPF.JGE) pc += a >= src ? insn.jt : insn.jf;
      else throw new Error(`unsupported jump ${insn.code}`);
    } else if (cls === BPF.RET) {
      return { value: insn.code & BPF.A ? a : insn.k, aborted: false, steps };
    } else {
      throw new Error(`unsupported class ${insn.code}`);
    }
  }
  throw new Error('program ran off its end');
}

/** A minimal IPv4 header (20 bytes) from `source`. */
export function ipv4Packet(source: number): Packet {
  const network = new Uint8Array(20);
  network[0] = 0x45;
  new DataView(network.buffer).setUint32(12, source);
  new DataView(network.buffer).setUint32(16, 0x7f000001);
  return { protocol: 0x0800, network };
}

/** A minimal IPv6 header (40 bytes) from the four words of `source`. */
export function ipv6Packet(words: readonly number[]): Packet {
  const network = new Uint8Array(40);
  network[0] = 0x60;
  const view = new DataView(network.buffer);
  words.forEach((word, i) => view.setUint32(8 + 4 * i, word));
  view.setUint32(36, 1);
  return { protocol: 0x86dd, network };
}

/** The kernel's static checks (bpf_check_classic): jumps land inside, the last instruction returns. */
export function checkProgram(program: readonly BpfInstruction[]): string | undefined {
  if (program.length === 0 || program.length > BPF.MAXINSNS) return `length ${program.length}`;
  for (let pc = 0; pc < program.length; pc++) {
    const insn = program[pc] as BpfInstruction;
    if ((insn.code & 0x07) !== BPF.JMP) continue;
    const targets = (insn.code & 0xf0) === BPF.JA ? [insn.k] : [insn.jt, insn.jf];
    if ((insn.code & 0xf0) !== BPF.JA && (insn.jt > 255 || insn.jf > 255)) return `jump offset over 255 at ${pc}`;
    for (const offset of targets) if (pc + 1 + offset >= program.length) return `jump out of the program at ${pc}`;
  }
  return ((program[program.length - 1] as BpfInstruction).code & 0x07) === BPF.RET ? undefined : 'does not end with a return';
}
