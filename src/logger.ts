import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** The binding keys child loggers may carry; anything per connection is counted, never bound. */
export type LogBindings = {
  component?: 'sticky' | 'ipc' | 'lifecycle' | 'primary' | 'worker';
  workerId?: number;
  pid?: number;
  generation?: number;
};

export function resolveLogger(logger: Logger | undefined): Logger {
  return logger ?? pino({ enabled: false });
}

export function childLogger(logger: Logger, bindings: LogBindings): Logger {
  return logger.child(bindings);
}
