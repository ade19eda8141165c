// Signal handling of the primary. Installed only when enabled, removed on close. The only place
// besides the worker's shutdown that ends a process.

export interface SignalActions {
  /** First SIGTERM/SIGINT: graceful shutdown, waiting for connections. */
  shutdown(): Promise<{ error: unknown }>;
  /** Second one during shutdown: stop waiting. */
  escalate(): void;
  /** Process exit code for a finished shutdown. */
  exitCode(result: { error: unknown }): number;
}

export function installShutdownSignals(actions: SignalActions): () => void {
  let isShuttingDown = false;
  const onSignal = (): void => {
    if (isShuttingDown) {
      actions.escalate();
      return;
    }
    isShuttingDown = true;
    void actions.shutdown().then((result) => {
      // A signal's default action (exit) was taken over by this handler: exit once the shutdown is done.
      process.exit(actions.exitCode(result));
    });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return () => {
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('SIGINT', onSignal);
  };
}
