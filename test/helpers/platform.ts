import { loadReusePortSockets } from '../../src/sticky/planes/reuseport-native.js';

/**
 * Tests that need Linux: every address of 127/8 is loopback (other systems answer only 127.0.0.1),
 * /proc/self/fd, prlimit, SO_REUSEPORT steering. Skip them elsewhere with `it.skipIf(!onLinux)`.
 */
export const onLinux = process.platform === 'linux';

/** The native part of kernel steering loads here (Linux x64/arm64): IP mode defaults to the kernel plane. */
export const isKernelAvailable = loadReusePortSockets().sockets !== undefined;
