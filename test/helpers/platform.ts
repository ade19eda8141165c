/**
 * Tests that need Linux: every address of 127/8 is loopback (other systems answer only 127.0.0.1),
 * /proc/self/fd, prlimit, SO_REUSEPORT steering. Skip them elsewhere with `it.skipIf(!onLinux)`.
 */
export const onLinux = process.platform === 'linux';
