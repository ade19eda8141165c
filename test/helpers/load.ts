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
export function startLoad(port: number, addresses: string[], concurrency = 8, { keepAlive = false } = {}): Load {
  // Keep-alive: one agent per loop, so each loop reuses its connection back to back, as a busy client does.
  const agents = Array.from({ length: concurrency }, () => (keepAlive ? new http.Agent({ keepAlive: true, maxSockets: 1 }) : false as const));
  const result: LoadResult = { ok: 0, failed: 0, errors: [], slotsByAddress: new Map() };
  let isRunning = true;
  const waiters: { target: number; resolve: () => void }[] = [];
  const once = (address: string, agent: http.Agent | false): Promise<void> => new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, localAddress: address, agent, timeout: 10_000 }, (res) => {
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
    // A keep-alive loop stays on one source address: its connection is bound to it.
    const agent = agents[index] ?? false;
    for (let i = index; isRunning; i += agent === false ? concurrency : 0) await once(addresses[i % addresses.length] as string, agent);
  });
  return {
    until: (n) => new Promise((resolve) => {
      const target = result.ok + n;
      waiters.push({ target, resolve });
    }),
    stop: async () => {
      isRunning = false;
      await Promise.all(loops);
      for (const agent of agents) if (agent !== false) agent.destroy();
      return result;
    },
  };
}
