import type { ResolvedListenOptions } from './options/index.js';
import type { Balancer } from './sticky/index.js';
import { openPrimaryBus, type PrimaryBusControl } from './ipc/index.js';
import type { Supervisor } from './lifecycle/index.js';

// The application bus in the primary, wired to the routing: slots and their ready workers from the
// supervisor, key → slot from the balancer.

export function createPrimaryBus(
  supervisor: Supervisor, balancer: Balancer, options: Readonly<ResolvedListenOptions>,
): PrimaryBusControl {
  const control = openPrimaryBus({
    slotOf: (worker) => supervisor.slotOf(worker),
    readyWorkerOf: (slot) => {
      const tracked = supervisor.current(slot);
      const isServing = tracked !== undefined && tracked.isReady && !tracked.isRetiring && tracked.worker.isConnected();
      return isServing ? tracked.worker : undefined;
    },
    slotCount: () => balancer.slots.size,
    // The balancer's own key → slot function: the bus reaches the worker that serves the key's connections.
    slotOfKey: (key) => balancer.slotOfKey(key),
  }, { timeout: options.ipcTimeout, slotWaitTimeout: options.slotWaitTimeout, slotQueueLimit: options.slotQueueLimit });
  supervisor.on('workerReady', ({ slot }) => control.slotReady(slot));
  return control;
}
