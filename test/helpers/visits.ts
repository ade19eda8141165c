import http from 'node:http';
import { getJson } from './client.js';
import { pause } from './cluster.js';

// Clients whose visit counters live in a slot's memory (the fixtures' GET /visit answers
// `{ count, pid }`): each checks that its count goes up by exactly one, request after request,
// whichever worker of its slot answers.

interface Visit { count: number; pid: number }

export interface VisitLoad {
  until(answered: number): Promise<void>;
  answered(): number;
  stop(): Promise<{ errors: string[]; broken: string[]; pidsPerClient: number[] }>;
}

/**
 * One loop per address, each checking that its counter goes up by one; half the loops keep their
 * connection alive between visits, half open a fresh one each time. Back to back, or one visit every
 * `everyMs` per loop (a load the test process itself can keep up with beside other clients).
 */
export function startVisits(port: number, clients: string[], { everyMs = 0 }: { everyMs?: number } = {}): VisitLoad {
  let isRunning = true;
  let answered = 0;
  const errors: string[] = [];
  const broken: string[] = [];
  const pids = clients.map(() => new Set<number>());
  const waiters: { target: number; resolve: () => void }[] = [];
  const loops = clients.map(async (address, index) => {
    const agent = index % 2 === 0 ? new http.Agent({ keepAlive: true, maxSockets: 1 }) : false;
    let expected = 1;
    while (isRunning) {
      try {
        const answer = await getJson<Visit>(port, '/visit', { localAddress: address, agent });
        if (answer.count !== expected) broken.push(`${address}: ${answer.count} after ${expected - 1}`);
        expected = answer.count + 1;
        pids[index]?.add(answer.pid);
        answered++;
        for (const waiter of waiters.filter((w) => answered >= w.target)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve();
        }
      } catch (error) {
        errors.push(`${address}: ${(error as Error).message}`);
      }
      if (everyMs > 0) await pause(everyMs);
    }
    if (agent !== false) agent.destroy();
  });
  return {
    until: (target) => new Promise((resolve) => {
      if (answered >= target) resolve();
      else waiters.push({ target, resolve });
    }),
    answered: () => answered,
    stop: async () => {
      isRunning = false;
      await Promise.all(loops);
      return { errors, broken, pidsPerClient: pids.map((set) => set.size) };
    },
  };
}

