import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopProcess, waitFor, waitForExit } from '../helpers/cluster.js';
import { mapLimit } from '../helpers/client.js';
import { findBinary, freePorts, noteSkip, startBalancer, type RunningBalancer } from '../helpers/load-balancer.js';
import {
  fleetClients, fleetRequest, haproxyAllUp, haproxyFleetConfig, probe, readyz, startFleet, type Fleet, type HostReply,
} from '../helpers/fleet.js';

// A fleet deploy under load: hosts behind HAProxy, reloaded one at a time by
// examples/fleet/deploy.mjs over their control sockets, each step gated on the host's report that its
// reload completed and then on its /readyz. Clients keep sending requests on fresh connections all the
// while. Nothing fails, /readyz never leaves 200, and every request (during the deploy and after it)
// reaches its client's host and slot. CI runs one deploy of two hosts; `npm run test:resilience`
// (RESILIENCE=long) runs five of three hosts, with more workers, clients and load. Both print the figures.

const isLong = process.env.RESILIENCE === 'long';
const SCALE = isLong
  ? { hosts: 3, workers: 3, clients: 300, concurrency: 24, deploys: 5, timeout: 600_000 }
  : { hosts: 2, workers: 2, clients: 40, concurrency: 4, deploys: 1, timeout: 90_000 };

const haproxy = findBinary('haproxy');
if (haproxy === undefined) noteSkip('haproxy is not installed (Debian: apt-get install haproxy); the fleet deploy test does not run');

const DEPLOY = fileURLToPath(new URL('../../examples/fleet/deploy.mjs', import.meta.url));
const CLIENTS = fleetClients(SCALE.clients);
const place = (reply: HostReply): string => `${reply.host}:${reply.slot}`;

interface Outcome { client: string; place: string | undefined; error: string | undefined }

describe.skipIf(haproxy === undefined)('fleet deploy under load', () => {
  let fleet: Fleet | undefined;
  let balancer: RunningBalancer | undefined;
  let port: number;

  beforeAll(async () => {
    fleet = await startFleet({ hosts: SCALE.hosts, workers: SCALE.workers });
    [port] = (await freePorts(1)) as [number];
    const statsSocket = `${fleet.dir}/haproxy.sock`;
    const config = haproxyFleetConfig(fleet.hosts, port, statsSocket);
    balancer = await startBalancer(haproxy as string, (dir) => ['-db', '-f', `${dir}/haproxy.cfg`], () => ({ 'haproxy.cfg': config }), [port]);
    await waitFor(() => haproxyAllUp(statsSocket, 'hosts', SCALE.hosts), { timeout: 10_000 });
  }, 60_000);
  afterAll(async () => {
    await balancer?.stop();
    await fleet?.stop();
  }, 30_000);

  it(`${SCALE.deploys} deploy(s) of ${SCALE.hosts} hosts x ${SCALE.workers} workers, ${SCALE.clients} clients: 0 failed requests, every client on its slot of its host`, async () => {
    const hosts = (fleet as Fleet).hosts;
    const before = await probe(port, CLIENTS);
    const pidsBefore = new Set([...before.values()].map((reply) => reply.pid));
    expect(new Set([...before.values()].map(place)).size).toBe(SCALE.hosts * SCALE.workers);

    const outcomes: Outcome[] = [];
    const readyzStatuses: number[] = [];
    let isRunning = true;
    const loops = Array.from({ length: SCALE.concurrency }, async (_, index) => {
      for (let i = index; isRunning; i += SCALE.concurrency) {
        const client = CLIENTS[i % CLIENTS.length] as string;
        outcomes.push(await fleetRequest(port, client, 20_000).then(
          (reply) => ({ client, place: place(reply), error: undefined }),
          (error: unknown) => ({ client, place: undefined, error: (error as Error).message })));
      }
    });
    const probes = (async () => {
      while (isRunning) readyzStatuses.push(...await mapLimit(hosts, hosts.length, (host) => readyz(host)));
    })();
    let deployOutput = '';
    const started = performance.now();
    try {
      for (let round = 0; round < SCALE.deploys; round++) {
        const args = [DEPLOY, ...hosts.map((host) => `${host.controlSocket}=http://${host.address}:${host.metricsPort}/readyz`)];
        const deploy = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
        deploy.stdout.on('data', (chunk: Buffer) => { deployOutput += chunk.toString(); });
        deploy.stderr.on('data', (chunk: Buffer) => { deployOutput += chunk.toString(); });
        try {
          expect({ exit: await waitForExit(deploy, SCALE.timeout), output: deployOutput.slice(-600) })
            .toMatchObject({ exit: { code: 0, signal: null } });
        } finally {
          await stopProcess(deploy);
        }
      }
    } finally {
      isRunning = false;
      await Promise.all([...loops, probes]);
    }
    const seconds = (performance.now() - started) / 1000;

    // One host at a time: each host's step ended (reloaded and ready) before the next began.
    const steps = deployOutput.split('\n').filter((line) => /^host \d\/\d .*: (reloading|reloaded and ready)$/.test(line));
    const round = hosts.flatMap((_, index) => [`${index + 1} start`, `${index + 1} ready`]);
    expect(steps.map((line) => `${/^host (\d)/.exec(line)?.[1]} ${line.endsWith('reloading') ? 'start' : 'ready'}`))
      .toEqual(Array.from({ length: SCALE.deploys }, () => round).flat());

    const failed = outcomes.filter((outcome) => outcome.error !== undefined);
    const misplaced = outcomes.filter((outcome) => outcome.error === undefined && outcome.place !== place(before.get(outcome.client) as HostReply));
    console.log(`fleet deploy: ${SCALE.deploys} deploy(s), ${SCALE.hosts} hosts x ${SCALE.workers} workers, ${outcomes.length} requests from ${SCALE.clients} `
      + `clients in ${seconds.toFixed(1)} s: ${failed.length} failed, ${misplaced.length} off their host's slot, `
      + `${readyzStatuses.filter((status) => status !== 200).length} of ${readyzStatuses.length} /readyz not 200`);
    expect({ failed: failed.slice(0, 5), misplaced: misplaced.slice(0, 5) }).toEqual({ failed: [], misplaced: [] });
    expect(outcomes.length).toBeGreaterThan(SCALE.clients);
    expect(readyzStatuses.filter((status) => status !== 200)).toEqual([]);

    // Afterwards: every client on its slot of its host, each served by a new worker.
    const after = await probe(port, CLIENTS);
    expect(CLIENTS.filter((client) => place(after.get(client) as HostReply) !== place(before.get(client) as HostReply))).toEqual([]);
    expect([...after.values()].filter((reply) => pidsBefore.has(reply.pid))).toEqual([]);
  }, SCALE.timeout + 60_000);
});
