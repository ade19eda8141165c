// The routing vocabulary the options speak: the routing modes, how IP-mode connections reach their
// worker (`steering`), and what a custom key function is given and may return.

/** What a custom key function may return; it is hashed to pick the worker. */
export type PrehashKey = readonly number[] | string | Uint8Array;

/** The parsed request head handed to `generatePrehashArray`. */
export interface StickyRequest {
  method: string;
  url: string;
  httpVersion: string;
  /** Header names lower-cased; repeated headers joined with `, ` (`set-cookie` too). */
  headers: Record<string, string>;
  /** Names and values as received, alternating. */
  rawHeaders: string[];
}

/** How IP-mode connections reach their worker; see `ListenOptions.steering`. */
export type Steering = 'auto' | 'kernel' | 'primary';

/** Every routing mode, once: the options resolve to one, the strategies and the worker's environment use this list. */
export const ROUTING_MODES = [
  'ip', 'proxyHeader', 'proxyProtocol', 'socketIoSessions', 'custom', 'customNoParsing',
] as const;

export type RoutingMode = (typeof ROUTING_MODES)[number];
