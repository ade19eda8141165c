// The public types of the application bus: a schema says, per receiving side, which message
// channels and which request channels exist and what they carry.

/** One request channel: what the caller sends and what the responder returns. */
export interface RequestSpec<Request = unknown, Response = unknown> {
  request: Request;
  response: Response;
}

/**
 * The application's bus, by receiving side. `primary` lists what the primary receives (from any
 * worker); `worker` lists what workers receive (from the primary or, through it, from another
 * worker). Payloads travel as JSON by default: plain data only.
 * @example
 * interface AppBus {
 *   primary: {
 *     messages: { 'metrics:report': { requests: number } };
 *     requests: { 'task:next': { request: { slot: number }; response: Task | null } };
 *   };
 *   worker: {
 *     messages: { 'cache:purge': { key: string } };
 *     requests: { 'session:get': { request: { user: string }; response: Session | null } };
 *   };
 * }
 */
export interface BusSchema {
  primary?: { messages?: object; requests?: object };
  worker?: { messages?: object; requests?: object };
}

type SideOf<S, K extends 'primary' | 'worker'> = S extends { [P in K]?: infer X } ? NonNullable<X> : never;
type PartOf<X, K extends 'messages' | 'requests'> = X extends { [P in K]?: infer M } ? NonNullable<M> : never;

/** Declared names only: an index signature would let any string through. */
type Declared<M> = keyof { [K in keyof M as string extends K ? never : K]: unknown } & keyof M & string;

/** Message channel → payload, of what the primary receives. */
export type PrimaryMessages<S extends BusSchema> = PartOf<SideOf<S, 'primary'>, 'messages'>;
/** Request channel → spec, of what the primary answers. */
export type PrimaryRequests<S extends BusSchema> = PartOf<SideOf<S, 'primary'>, 'requests'>;
/** Message channel → payload, of what workers receive. */
export type WorkerMessages<S extends BusSchema> = PartOf<SideOf<S, 'worker'>, 'messages'>;
/** Request channel → spec, of what workers answer. */
export type WorkerRequests<S extends BusSchema> = PartOf<SideOf<S, 'worker'>, 'requests'>;

/** The channel names of a message or request map. */
export type ChannelOf<M> = [M] extends [never] ? never : Declared<M>;
/** The payload of message channel `C`. */
export type PayloadOf<M, C extends keyof M> = M[C];
/** The request payload of request channel `C`. */
export type RequestOf<R, C extends keyof R> = R[C] extends { request: infer Q } ? Q : never;
/** The response of request channel `C`. */
export type ResponseOf<R, C extends keyof R> = R[C] extends { response: infer A } ? A : never;

/** A routing key, as the balancer hashes it: a client address in the address modes, your custom key otherwise. */
export type BusRoutingKey = string | Uint8Array | readonly number[];

/**
 * Which worker a message or request goes to:
 * - `{ workerId }`: that worker process (`cluster.worker.id`);
 * - `{ slot }`: the slot's current ready worker;
 * - `{ key }`: the worker that serves the connections of this routing key, by the balancer's own
 *   routing (same hash, seed and slots).
 */
export type WorkerTarget = { workerId: number } | { slot: number } | { key: BusRoutingKey };

/** The sender of a message or request. */
export type BusSender =
  | { readonly kind: 'primary' }
  | { readonly kind: 'worker'; readonly workerId: number; readonly slot: number };

/** Options of one request. */
export interface RequestOptions {
  /**
   * Ms to wait for the response before rejecting with `STICKY_ERR_IPC_TIMEOUT`: an integer from 1 to
   * 2147483647 (else the call rejects with `STICKY_ERR_INVALID_OPTION`). @default the `ipcTimeout` option (10000)
   */
  timeout?: number;
  /** Aborts the wait: the promise rejects with the signal's reason; a late response is dropped. */
  signal?: AbortSignal;
}

export type MessageListener<P> = (payload: P, from: BusSender) => void;
export type Responder<Q, A> = (payload: Q, from: BusSender) => A | Promise<A>;

/** Counters of one process's bus (hot path: counted, not logged). */
export interface BusStats {
  sent: number;
  received: number;
  /** Requests waiting for a response now. */
  pending: number;
  timedOut: number;
  /** Frames dropped: malformed, no listener, a response nobody waits for. */
  dropped: number;
  /**
   * Responses dropped because they came from a worker the request was not sent to (the primary's
   * bus; a worker's stays 0). Each one is a worker answering another worker's request: a bug or an attack.
   */
  foreignResponses: number;
}
