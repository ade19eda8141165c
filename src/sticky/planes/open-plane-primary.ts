import type { AddressInfo } from 'node:net';
import { ErrorCode, StickyError } from '../../errors.js';
import type { ResolvedListenOptions } from '../../options/index.js';
import type { RoutingStrategy } from '../routing/index.js';
import { HopPlane, type HopContext } from './hop-primary.js';
import { openKernelPlane, type KernelPlane } from './kernel-primary.js';
import type { GroupWatchEmit } from './group-watch-primary.js';

// The one place that chooses the data plane, once, when the primary listens (as Node's cluster picks
// RoundRobinHandle or SharedHandle in queryServer): the kernel plane when the key is the peer address,
// `steering` allows it and the kernel can route here; else the primary hop.

/** Which data plane carries connections to the workers, and why not the kernel when it is not. */
export interface SteeringState {
  plane: 'kernel' | 'primary';
  reason: string | undefined;
  /** The primary hop: how it passes connections to workers (`nativeHandoff`); absent on the kernel plane. */
  handoff?: 'native' | 'ipc';
}

/** What either plane is opened with. */
export interface PlaneContext extends HopContext {
  /** Reports of the kernel plane's group watch about foreign listeners on the port. */
  readonly emit: GroupWatchEmit;
}

export interface OpenedPlane {
  plane: HopPlane | KernelPlane;
  address: AddressInfo;
  steering: SteeringState;
}

/** Why the kernel plane is not even tried, or undefined when it is. */
function kernelRefusal(strategy: RoutingStrategy, options: Readonly<ResolvedListenOptions>): string | undefined {
  if (!strategy.isKeyedByPeerAddress) return 'the routing key is in bytes the kernel never sees';
  return options.steering === 'primary' ? '`steering` is "primary"' : undefined;
}

/** The steering reported before the port is open: the primary's, and why when the kernel is ruled out. */
export function steeringBeforeListen(
  strategy: RoutingStrategy, options: Readonly<ResolvedListenOptions>,
): SteeringState {
  return { plane: 'primary', reason: kernelRefusal(strategy, options) };
}

/**
 * Opens the public port on the chosen plane and hands that plane to the slot table.
 * @throws {StickyError} `STICKY_ERR_STEERING_UNAVAILABLE` when `steering: 'kernel'` cannot be had;
 * the bind error (EADDRINUSE…) when the port is taken.
 */
export async function openDataPlane(
  context: PlaneContext, port: number, host: string | undefined,
): Promise<OpenedPlane> {
  const { options, log, table } = context;
  let reason = kernelRefusal(context.strategy, options);
  if (reason === undefined) {
    const kernel = await openKernelPlane({ ...context, slots: table.size }, port, host);
    if ('plane' in kernel) {
      if (context.isStopped()) {
        void kernel.plane.close(false);
        throw context.closedWhileBinding();
      }
      table.open(kernel.plane);
      log.info({ steering: 'kernel', slots: table.size }, 'kernel steering: workers accept on their slot sockets');
      return { plane: kernel.plane, address: kernel.plane.address, steering: { plane: 'kernel', reason: undefined } };
    }
    reason = kernel.reason;
    if (options.steering === 'kernel') {
      const why = reason ?? 'unknown reason';
      throw new StickyError(ErrorCode.SteeringUnavailable, `Kernel steering is unavailable: ${why}.`, {
        hint: 'Use `steering: "auto"` to fall back to the primary hop, or run on Linux x64/arm64 with Node >= 20.13.',
      });
    }
    log.info({ steering: 'primary', reason }, 'kernel steering unavailable: the primary hands connections over');
  }
  const hop = new HopPlane(context);
  const address = await hop.listen(port, host);
  table.open(hop);
  return { plane: hop, address, steering: { plane: 'primary', reason, handoff: hop.handoff } };
}
