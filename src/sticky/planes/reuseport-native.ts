import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MANIFEST_NAME, rejectPrebuild } from './prebuild-manifest.js';

// The optional native part of the kernel data plane (native/reuseport.c, prebuilt per platform in
// prebuilds/<platform>-<arch>/). Loading never throws: on another OS or architecture, or when the
// file is missing, damaged or not listed with its SHA-256 in prebuilds/SHA256SUMS, the caller gets
// the reason and keeps the primary hop. The checksum is checked before the file is loaded: a
// truncated shared object can crash the process inside dlopen (SIGBUS), where no catch helps.
// Nothing is compiled at install time.

/** Errors from the addon carry Node's usual `code` (EADDRINUSE…), `errno` and `syscall`. */
export interface NativeSocketError extends Error {
  code: string;
  errno: number;
  syscall: string;
}

export interface ReusePortSockets {
  /** A plain bind (no SO_REUSEPORT), closed at once: EADDRINUSE when anything listens there. Returns the port. */
  probeBind(host: string, port: number, isIPv6Only: boolean): number;
  /** A close-on-exec SO_REUSEPORT socket, bound and listening; its group index is the order of this call. */
  listen(host: string, port: number, backlog: number, isIPv6Only: boolean): { fd: number; port: number };
  /** Attaches a classic BPF program (encodeProgram's layout) to the socket's whole group. */
  attach(fd: number, program: Uint32Array): void;
  /** Closes a socket that no Node handle owns yet. */
  close(fd: number): void;
  /**
   * The listening socket takes no new handshake (a client's SYN is dropped and retried by the client);
   * handshakes under way still complete into its accept queue. For good: the socket is about to close.
   */
  refuseHandshakes(fd: number): void;
  /** Connections the kernel completed on the listening socket that wait to be accepted. */
  acceptQueueLength(fd: number): number;
}

/** A poll of one descriptor on Node's loop (it keeps no process alive). */
export interface FdWatch {
  readonly __brand: 'FdWatch';
}

/** Passing open connections between two processes over an unnamed Unix socket pair (SCM_RIGHTS). */
export interface FdPassing {
  /**
   * A connected pair of close-on-exec Unix sockets with no name: stream sockets, or sequenced-packet
   * ones (`isSeqPacket`: each message is read whole, and by one reader only).
   */
  socketPair(isSeqPacket?: boolean): [number, number];
  /**
   * Sends bytes with descriptors (which travel with the first byte taken); how many bytes the socket
   * took, or -1 when its buffer is full and nothing was sent. Never blocks; a gone peer throws EPIPE.
   */
  send(fd: number, bytes: Uint8Array, fds: Int32Array): number;
  /**
   * Reads into `buffer`: the bytes read (0: the peer closed) and the descriptors that came, each a TCP
   * connection (`isPacketPair`: a Unix sequenced-packet socket) or -1 (anything else is closed on
   * arrival); null: nothing waits. A packet larger than `buffer` throws EMSGSIZE.
   */
  receive(fd: number, buffer: Uint8Array, isPacketPair?: boolean): { bytes: number; fds: Int32Array } | null;
  /** `callback(status)` each time `fd` is readable (writable), until `unwatch`; status < 0 is a failed descriptor. */
  watch(fd: number, isWritable: boolean, callback: (status: number) => void): FdWatch;
  unwatch(watch: FdWatch): void;
  /** Closes a descriptor that no Node handle owns. */
  close(fd: number): void;
}

export type NativeSupport =
  | { readonly sockets: ReusePortSockets; readonly fds: FdPassing; readonly reason?: undefined }
  | { readonly sockets?: undefined; readonly fds?: undefined; readonly reason: string };

interface Addon {
  probeBind(host: string, port: number, isIPv6Only: boolean): number;
  listenReusePort(host: string, port: number, backlog: number, isIPv6Only: boolean): [number, number];
  attachReusePortProgram(fd: number, program: Uint32Array): void;
  closeSocket(fd: number): void;
  attachDropFilter(fd: number): void;
  acceptQueueLength(fd: number): number;
  socketPair(isSeqPacket?: boolean): [number, number];
  sendFds(fd: number, bytes: Uint8Array, fds: Int32Array): number;
  recvFds(fd: number, buffer: Uint8Array, isPacketPair?: boolean): [number, Int32Array] | null;
  watchFd(fd: number, isWritable: boolean, callback: (status: number) => void): FdWatch;
  unwatchFd(watch: FdWatch): void;
}

const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([name, value]) => [value, name]));

function named(error: unknown): unknown {
  const raw = error as Partial<NativeSocketError>;
  if (error instanceof Error && typeof raw.errno === 'number') {
    const code = ERRNO_NAMES.get(raw.errno) ?? `errno ${raw.errno}`;
    raw.code = code;
    error.message = `${raw.syscall ?? 'call'} ${code}: ${error.message}`;
  }
  return error;
}

function call<T>(run: () => T): T {
  try {
    return run();
  } catch (error) {
    throw named(error);
  }
}

function wrap(addon: Addon): ReusePortSockets {
  return {
    probeBind: (host, port, isIPv6Only) => call(() => addon.probeBind(host, port, isIPv6Only)),
    listen: (host, port, backlog, isIPv6Only) => call(() => {
      const [fd, bound] = addon.listenReusePort(host, port, backlog, isIPv6Only);
      return { fd, port: bound };
    }),
    attach: (fd, program) => call(() => addon.attachReusePortProgram(fd, program)),
    close: (fd) => call(() => addon.closeSocket(fd)),
    refuseHandshakes: (fd) => call(() => addon.attachDropFilter(fd)),
    acceptQueueLength: (fd) => call(() => addon.acceptQueueLength(fd)),
  };
}

function wrapFdPassing(addon: Addon): FdPassing {
  return {
    socketPair: (isSeqPacket) => call(() => addon.socketPair(isSeqPacket === true)),
    send: (fd, bytes, fds) => call(() => addon.sendFds(fd, bytes, fds)),
    receive: (fd, buffer, isPacketPair) => call(() => {
      const read = addon.recvFds(fd, buffer, isPacketPair === true);
      return read === null ? null : { bytes: read[0], fds: read[1] };
    }),
    watch: (fd, isWritable, callback) => call(() => addon.watchFd(fd, isWritable, callback)),
    unwatch: (watch) => call(() => addon.unwatchFd(watch)),
    close: (fd) => call(() => addon.closeSocket(fd)),
  };
}

/** Node versions whose cluster workers listen on a received handle themselves (nodejs/node#52056). */
export function canWorkerListenOnHandle(version = process.versions.node): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > 20 || (major === 20 && minor >= 13);
}

let loaded: NativeSupport | undefined;

/** The native sockets, or why they are unavailable here. Loaded once. */
export function loadReusePortSockets(): NativeSupport {
  loaded ??= load();
  return loaded;
}

function load(): NativeSupport {
  // From both src/sticky and dist/sticky the package root is two levels up.
  const prebuilds = fileURLToPath(new URL('../../../prebuilds', import.meta.url));
  return loadFrom(prebuilds, process.platform, process.arch, process.versions.node);
}

/** Larger than any build of the addon: a bound on what is read and hashed. */
const MAX_ADDON_BYTES = 16 * 1024 * 1024;

/**
 * Loads `<prebuilds>/<platform>-<arch>/reuseport.node` for a Node version once its SHA-256 matches
 * `<prebuilds>/SHA256SUMS`; never throws.
 */
export function loadFrom(prebuilds: string, platform: string, arch: string, version: string): NativeSupport {
  if (platform !== 'linux') return { reason: `kernel steering needs Linux (this is ${platform})` };
  if (!canWorkerListenOnHandle(version)) return { reason: `kernel steering needs Node >= 20.13 (this is ${version})` };
  const name = `${platform}-${arch}/reuseport.node`;
  const file = join(prebuilds, name);
  try {
    const rejected = checkFile(prebuilds, name, file);
    if (rejected !== undefined) return { reason: `the native part did not load from ${file}: ${rejected}` };
    const addon = createRequire(import.meta.url)(file) as Addon;
    return { sockets: wrap(addon), fds: wrapFdPassing(addon) };
  } catch (error) {
    return { reason: `the native part did not load from ${file}: ${(error as Error).message}` };
  }
}

/** Why the file must not be loaded, or undefined; throws the file system's error (ENOENT…). */
function checkFile(prebuilds: string, name: string, file: string): string | undefined {
  const stats = statSync(file);
  if (!stats.isFile() || stats.size > MAX_ADDON_BYTES) return 'not a regular file of a plausible size';
  const sha256 = createHash('sha256').update(readFileSync(file)).digest('hex');
  let manifest: string;
  try {
    manifest = readFileSync(join(prebuilds, MANIFEST_NAME), 'utf8');
  } catch (error) {
    return `cannot read its checksum list: ${(error as Error).message}`;
  }
  return rejectPrebuild(manifest, name, sha256);
}

/** Fd passing between processes where the native part loads, else undefined (moves then go through the primary). */
export function loadFdPassing(): FdPassing | undefined {
  return loadReusePortSockets().fds;
}
