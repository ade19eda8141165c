import http from 'node:http';

// Load for the resilience battery: every request is recorded with its source address, its start and
// end, and how it ended, so failures can be matched against the chaos injected meanwhile.

export interface RequestRecord {
  address: string;
  start: number;
  end: number;
  status: number;
  /** The slot that answered (on 200). */
  slot: number | undefined;
  error: string | undefined;
}

export interface RecordedLoad {
  readonly records: RequestRecord[];
  /** Resolves once `n` more requests have completed. */
  until(n: number): Promise<void>;
  stop(): Promise<RequestRecord[]>;
}

function once(port: number, address: string, path: string, timeout: number): Promise<RequestRecord> {
  const start = performance.now();
  return new Promise((resolve) => {
    const finish = (status: number, slot: number | undefined, error: string | undefined): void =>
      resolve({ address, start, end: performance.now(), status, slot, error });
    const req = http.get({ host: '127.0.0.1', port, localAddress: address, path, agent: false, timeout }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => { body += chunk.toString(); });
      res.on('end', () => {
        let slot: number | undefined;
        try { slot = (JSON.parse(body) as { slot: number }).slot; } catch { slot = undefined; }
        finish(res.statusCode ?? 0, slot, res.statusCode === 200 ? undefined : `status ${res.statusCode}`);
      });
      res.on('error', (error) => finish(0, undefined, error.message));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (error) => finish(0, undefined, error.message));
  });
}

/** `concurrency` loops of fresh connections over `addresses`, until stopped. Nothing is retried. */
export function recordLoad(port: number, addresses: readonly string[], concurrency: number, timeout = 20_000): RecordedLoad {
  const records: RequestRecord[] = [];
  let isRunning = true;
  const waiters: { target: number; resolve: () => void }[] = [];
  const loops = Array.from({ length: concurrency }, async (_, index) => {
    for (let i = index; isRunning; i += concurrency) {
      records.push(await once(port, addresses[i % addresses.length] as string, '/', timeout));
      for (const waiter of waiters.filter((w) => records.length >= w.target)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  });
  return {
    records,
    until: (n) => new Promise((resolve) => { waiters.push({ target: records.length + n, resolve }); }),
    stop: async () => {
      isRunning = false;
      await Promise.all(loops);
      return records;
    },
  };
}
