#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { ErrorCode, StickyError } from '../errors.js';
import { parseCommandLine, type ParsedCommand } from './args.js';
import { control } from './commands-client.js';
import { CliFailure, printError, write } from './failure.js';
import { EXIT_CODES, HELP } from './help.js';
import { serve } from './serve-primary.js';

// `sticky-runtime serve ./app.js --workers 4 --port 3000` and the control commands.

async function main(argv: readonly string[]): Promise<void> {
  let parsed: ParsedCommand;
  try {
    parsed = parseCommandLine(argv);
  } catch (error) {
    throw new CliFailure(error, EXIT_CODES.usage);
  }
  if (parsed.version) {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    write(process.stdout, `${pkg.version}\n`);
    return;
  }
  if (parsed.help || parsed.command === undefined || parsed.command === 'help') {
    write(parsed.command === undefined && !parsed.help ? process.stderr : process.stdout, HELP);
    if (parsed.command === undefined && !parsed.help) process.exitCode = EXIT_CODES.usage;
    return;
  }
  switch (parsed.command) {
    case 'serve': return serve(parsed);
    case 'reload': case 'scale': case 'status': return control(parsed);
    default:
      throw new CliFailure(new StickyError(ErrorCode.InvalidOption, `Unknown command \`${parsed.command}\`.`, {
        hint: 'Commands: serve, reload, scale, status. Run `sticky-runtime --help`.',
      }), EXIT_CODES.usage);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const failure = error instanceof CliFailure ? error : new CliFailure(error, EXIT_CODES.failed);
  printError(failure.cause);
  process.exitCode = failure.exitCode;
});
