import http from 'node:http';

export interface LoadResult {
  ok: number;
  failed: number;
  errors: string[];
  /** Each source address → the slots that answered it, in order. */
  slotsByAddress: Map<string, number[]>;
}

export interface Load {
  /** Resolves once at least `n` requests have succeeded since the call. */
  until(n: number): Promise<void>;
  /** Stops issuing requests, waits for the ones in flight, and reports. */
  stop(): Promise<LoadResult>;
}

/**
 * Continuous load: `concurrency` loops, each sending requests on fresh connections from the given
 * source addresses in turn, until stopped. Every request has a deadline; nothing is retried.
 */
export function startLoad(port: number, addresses: string[], concurrency = 8): Load {
  const result: LoadResult = { ok: 0, failed: 0, errors: [], slotsByAddress: new Map() };
  let isRunning = true;
  const waiters: { target: number; resolve: () => void }[] = [];
  const once = (address: string): Promise<void> => new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, localAddress: address, agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => { body += chunk.toString(); });
      res.on('end', () => {
        if (res.statusCode === 200) {
          result.ok++;
          const { slot } = JSON.parse(body) as { slot: number };
          const slots = result.slotsByAddress.get(address) ?? [];
          slots.push(slot);
          result.slotsByAddress.set(address, slots);
        } else {
          result.failed++;
          result.errors.push(`status ${res.statusCode}`);
        }
        for (const waiter of waiters.filter((w) => result.ok >= w.target)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve();
        }
        resolve();
      });
      res.on('error', (error) => { result.failed++; result.errors.push(error.message); resolve(); });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (error) => { result.failed++; result.errors.push(error.message); resolve(); });
  });
  const loops = Array.from({ length: concurrency }, async (_, index) => {
    for (let i = index; isRunning; i += concurrency) await once(addresses[i % addresses.length] as string);
  });
  return {
    until: (n) => new Promise((resolve) => {
      const target = result.ok + n;
      waiters.push({ target, resolve });
    }),
    stop: async () => {
      isRunning = false;
      await Promise.all(loops);
      return result;
    },
  };
}
