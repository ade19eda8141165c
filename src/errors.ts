/**
 * Every error code sticky-runtime throws, rejects or reports. Codes are public API: branch on
 * `err.code`, never on the message.
 */
export const ErrorCode = {
  /** An option has a wrong type, value or combination, or an unknown key. */
  InvalidOption: 'STICKY_ERR_INVALID_OPTION',
  /** The call does not fit the current state (for example `reload()` after `close()`). */
  InvalidState: 'STICKY_ERR_INVALID_STATE',
  /** A primary-only API was called in a worker, or a worker-only API in the primary. */
  WrongProcess: 'STICKY_ERR_WRONG_PROCESS',
  /** The primary could not bind the public port. */
  ListenFailed: 'STICKY_ERR_LISTEN_FAILED',
  /** `steering: 'kernel'` was asked for where the kernel cannot route connections (see the hint). */
  SteeringUnavailable: 'STICKY_ERR_STEERING_UNAVAILABLE',
  /** The IPC channel to the other process is closed. */
  IpcClosed: 'STICKY_ERR_IPC_CLOSED',
  /** A worker did not become ready in time, or exited while starting. */
  WorkerStartFailed: 'STICKY_ERR_WORKER_START_FAILED',
  /** Workers outlived the shutdown deadline and were killed. */
  ShutdownTimeout: 'STICKY_ERR_SHUTDOWN_TIMEOUT',
  /** A worker did not finish draining in time and was killed. */
  DrainTimeout: 'STICKY_ERR_DRAIN_TIMEOUT',
  /** A slot crashed too often and was marked failed. */
  RespawnLimit: 'STICKY_ERR_RESPAWN_LIMIT',
  /** A rolling restart stopped because a replacement worker failed to start. */
  ReloadFailed: 'STICKY_ERR_RELOAD_FAILED',
  /** `sticky-runtime serve`: the app module is missing or exports nothing the CLI can serve. */
  InvalidApp: 'STICKY_ERR_INVALID_APP',
  /** `sticky-runtime reload | scale | status`: no running cluster answers at the control socket. */
  ControlUnavailable: 'STICKY_ERR_CONTROL_UNAVAILABLE',
  /**
   * `sticky-runtime reload | scale | status`: the control socket path is not a socket of this user in a
   * directory only this user (or root) can change, so whoever answers there may not be the cluster.
   */
  ControlUntrusted: 'STICKY_ERR_CONTROL_UNTRUSTED',
  /** A bus request got no response within its timeout. */
  IpcTimeout: 'STICKY_ERR_IPC_TIMEOUT',
  /** The worker a bus request or message was addressed to exited before it answered. */
  IpcWorkerExit: 'STICKY_ERR_IPC_WORKER_EXIT',
  /** No worker to deliver a bus message to: unknown worker id or slot, or the slot had no ready worker in time. */
  IpcNoWorker: 'STICKY_ERR_IPC_NO_WORKER',
  /** The receiving process has no responder for the request's channel. */
  IpcNoHandler: 'STICKY_ERR_IPC_NO_HANDLER',
  /** The responder threw or rejected; `remoteCode`, `remoteName` and `stack` come from that error. */
  IpcRemote: 'STICKY_ERR_IPC_REMOTE',
  /** A bus payload (or response) cannot be serialized for the IPC channel. */
  IpcInvalidPayload: 'STICKY_ERR_IPC_INVALID_PAYLOAD',
  /** A ready worker did not answer the primary within `workerTimeout` and was replaced. */
  WorkerTimeout: 'STICKY_ERR_WORKER_TIMEOUT',
  /**
   * Kernel steering: a socket the cluster does not own listens on its port (a same-user process joined
   * the reuseport group); reported by the `foreignListener` event, and a scale that would place a slot
   * behind it is refused.
   */
  ForeignListener: 'STICKY_ERR_FOREIGN_LISTENER',
  /** A `send` on a ws WebSocket that moved to another process (the connection lives on there). */
  WebSocketMoved: 'STICKY_ERR_WS_MOVED',
  /** A moved WebSocket could not be rebuilt: its description is not one this version reads, or no handle came. */
  WebSocketHandover: 'STICKY_ERR_WS_HANDOVER',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * Options of `new StickyError()`. Declared here rather than extending the built-in `ErrorOptions`,
 * which exists only in `lib: es2022` and newer: the declarations compile under `target: ES2020` too.
 */
export interface StickyErrorOptions {
  /** The error this one wraps. */
  cause?: unknown;
  /** What the caller can do about it. */
  hint?: string;
}

/** The one error class of sticky-runtime. Branch on `code`, which survives IPC and duplicate copies. */
export class StickyError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: StickyErrorOptions = {}) {
    super(options.hint === undefined ? message : `${message} Hint: ${options.hint}`,
      'cause' in options ? { cause: options.cause } : undefined);
    this.code = code;
    this.hint = options.hint;
  }

  override get name(): string {
    return 'StickyError';
  }
}

/** True for any error carrying a `STICKY_ERR_*` code, also one rebuilt after IPC. */
export const isStickyError = (value: unknown): value is StickyError =>
  value instanceof Error && String((value as Partial<StickyError>).code).startsWith('STICKY_ERR_');
