import { isStickyError } from '../errors.js';
import { stripControl } from './terminal-text.js';

// How the CLI ends a failed step: the error on stderr, the step's exit code.

export const write = (stream: NodeJS.WriteStream, text: string): void => void stream.write(text);

/** Exit code of a failed step: usage errors are the caller's, the rest depend on the step. */
export class CliFailure extends Error {
  readonly exitCode: number;
  constructor(error: unknown, exitCode: number) {
    super('cli failure', { cause: error });
    this.exitCode = exitCode;
  }
}

export function printError(error: unknown): void {
  // A message may quote a path or a value it was given: no control sequence of theirs reaches the terminal.
  if (isStickyError(error)) write(process.stderr, stripControl(`sticky-runtime: ${error.code}: ${error.message}\n`));
  else {
    const text = error instanceof Error ? error.stack ?? error.message : String(error);
    write(process.stderr, stripControl(`sticky-runtime: ${text}\n`));
  }
}
