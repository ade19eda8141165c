import { EXIT_CODE_KILLED } from './shutdown-primary.js';

// Signal handling of the primary. Installed only when enabled, removed on close. The only place
// besides the worker's shutdown that ends a process.

export interface SignalActions {
  /** First SIGTERM/SIGINT: graceful shutdown, waiting for connections. */
  shutdown(): Promise<{ error: unknown }>;
  /** Second one during shutdown: stop waiting. */
  escalate(): void;
  /** SIGHUP: rolling restart. */
  reload(): void;
  /** SIGTTIN / SIGTTOU: one slot more / less. */
  scaleBy(delta: 1 | -1): void;
}

/** Exit code of the primary after a shutdown: 0, or EXIT_CODE_KILLED when workers had to be killed. */
export function exitCodeOf(result: { error: unknown }): number {
  return result.error === undefined ? 0 : EXIT_CODE_KILLED;
}

/**
 * Ends the primary after a shutdown nobody holds a callback for (a signal, or masterclose from a
 * worker): the application asked for the whole cluster to stop.
 */
export function exitAfterShutdown(result: { error: unknown }): void {
  process.exit(exitCodeOf(result));
}

export function installShutdownSignals(actions: SignalActions): () => void {
  let isShuttingDown = false;
  const onSignal = (): void => {
    if (isShuttingDown) {
      actions.escalate();
      return;
    }
    isShuttingDown = true;
    // A signal's default action (exit) was taken over by this handler: exit once the shutdown is done.
    void actions.shutdown().then(exitAfterShutdown);
  };
  const handlers: [NodeJS.Signals, () => void][] = [
    ['SIGTERM', onSignal],
    ['SIGINT', onSignal],
  ];
  if (process.platform !== 'win32') {
    handlers.push(['SIGHUP', () => actions.reload()], ['SIGTTIN', () => actions.scaleBy(1)],
      ['SIGTTOU', () => actions.scaleBy(-1)]);
  }
  for (const [signal, handler] of handlers) process.on(signal, handler);
  return () => {
    for (const [signal, handler] of handlers) process.removeListener(signal, handler);
  };
}
