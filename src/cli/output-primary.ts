import cluster, { type Worker } from 'node:cluster';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../logger.js';
import { LogLimit } from '../internal/log-limit.js';
import { LineSplitter } from './line-splitter.js';
import { FileSink, StreamSink, type Sink } from './output-sink-primary.js';

// `serve --prefix-output`: the workers' stdout and stderr are pipes to the primary, which writes each
// line as `[slot 0|pid 1234] line` to its own stdout / stderr, and to `--log-file` and `--log-dir`'s
// per-slot files. The primary reads the pipes continuously: its writes are asynchronous and buffered
// up to OUTPUT_BUFFER_BYTES per destination; past that (a terminal or pipe nobody reads, a full disk),
// lines are dropped and counted. Stopping the reads instead (stream backpressure) would leave each
// worker's output piling up in the worker's own memory (Node queues a write to a full pipe) and
// never arriving. The only pace a worker is held to is the primary's own CPU.

/** A line longer than this many characters is cut into pieces, each a line of its own. */
export const MAX_LINE = 16 * 1024;
/** Bytes a destination may hold before lines are dropped. */
export const OUTPUT_BUFFER_BYTES = 4 * 1024 * 1024;
const LINES_BEFORE_ONLINE = 1_000;
const DROP_LOG_INTERVAL_MS = 10_000;


export interface OutputOptions {
  /** Appends the prefixed lines to this file. */
  logFile: string | undefined;
  /** Appends each slot's lines (unprefixed, as the app wrote them) to `slot-<n>.log` in this directory. */
  logDir: string | undefined;
}

interface Source { slot: number | undefined; pending: { line: string; isError: boolean }[] }

export class OutputRouter {
  readonly #log: Logger;
  readonly #options: OutputOptions;
  readonly #stdout: Sink;
  readonly #stderr: Sink;
  readonly #logFile: Sink | undefined;
  readonly #slotFiles = new Map<number, Sink>();
  readonly #sources = new Map<number, Source>();
  readonly #dropLog = new LogLimit(DROP_LOG_INTERVAL_MS);
  readonly #errorLog = new LogLimit(DROP_LOG_INTERVAL_MS);
  #droppedLines = 0;
  #lines = 0;

  constructor(options: OutputOptions, log: Logger) {
    this.#log = log.child({ component: 'output' });
    this.#options = options;
    this.#stdout = this.#sink(process.stdout);
    this.#stderr = this.#sink(process.stderr);
    this.#logFile = options.logFile === undefined ? undefined : this.#sink(options.logFile);
    if (options.logDir !== undefined) mkdirSync(options.logDir, { recursive: true, mode: 0o750 });
  }

  /** Lines routed and lines dropped so far. */
  get counts(): { lines: number; droppedLines: number } {
    return { lines: this.#lines, droppedLines: this.#droppedLines };
  }

  /** Reads the pipes of every worker forked from now on; `onOnline` tells each worker's slot. */
  watch(onOnline: (listener: (info: { workerId: number; slot: number }) => void) => void): void {
    cluster.on('fork', (worker) => this.#attach(worker));
    onOnline(({ workerId, slot }) => this.#online(workerId, slot));
  }

  /** Reopens the files (after logrotate moved them): SIGUSR2. */
  reopen(): void {
    this.#logFile?.reopen();
    for (const file of this.#slotFiles.values()) file.reopen();
    this.#log.info({ files: this.#slotFiles.size + (this.#logFile === undefined ? 0 : 1) }, 'log files reopened');
  }

  /** Writes what is queued, as far as each destination takes it at once, and stops (at exit). */
  close(): void {
    for (const sink of [this.#stdout, this.#stderr, this.#logFile, ...this.#slotFiles.values()]) sink?.close();
  }

  #sink(target: NodeJS.WriteStream | string): Sink {
    const onDrop = (lines: number): void => this.#dropped(lines);
    const onError = (error: NodeJS.ErrnoException): void => {
      // A destination that cannot be written (reader gone, full disk): its lines are lost, the cluster goes on.
      if (this.#errorLog.take(performance.now()) !== undefined) {
        this.#log.warn({ err: error }, 'app output not written');
      }
    };
    return typeof target === 'string'
      ? new FileSink(target, OUTPUT_BUFFER_BYTES, onDrop, onError)
      : new StreamSink(target, OUTPUT_BUFFER_BYTES, onDrop, onError);
  }

  #attach(worker: Worker): void {
    const source: Source = { slot: undefined, pending: [] };
    this.#sources.set(worker.id, source);
    const pid = worker.process.pid ?? 0;
    for (const stream of [worker.process.stdout, worker.process.stderr]) {
      if (stream === null) continue;
      const lines = new LineSplitter(MAX_LINE);
      const isError = stream === worker.process.stderr;
      stream.on('data', (chunk: Buffer) => this.#route(source, pid, lines.push(chunk), isError));
      stream.on('end', () => this.#route(source, pid, lines.end(), isError));
    }
    worker.once('exit', () => {
      this.#flushPending(source, pid);
      this.#sources.delete(worker.id);
    });
  }

  #online(workerId: number, slot: number): void {
    const source = this.#sources.get(workerId);
    if (source === undefined || source.slot !== undefined) return;
    source.slot = slot;
    this.#flushPending(source, cluster.workers?.[workerId]?.process.pid ?? 0);
  }

  /** Lines a worker wrote before the primary knew its slot (rare: it writes before its `online`). */
  #flushPending(source: Source, pid: number): void {
    const pending = source.pending;
    source.pending = [];
    for (const { line, isError } of pending) this.#write(source.slot, pid, [line], isError);
  }

  #route(source: Source, pid: number, lines: string[], isError: boolean): void {
    if (lines.length === 0) return;
    if (source.slot === undefined && source.pending.length < LINES_BEFORE_ONLINE) {
      for (const line of lines) source.pending.push({ line, isError });
      return;
    }
    this.#write(source.slot, pid, lines, isError);
  }

  #write(slot: number | undefined, pid: number, lines: string[], isError: boolean): void {
    this.#lines += lines.length;
    const prefix = `[slot ${slot ?? '?'}|pid ${pid}] `;
    const prefixed = `${prefix}${lines.join(`\n${prefix}`)}\n`;
    (isError ? this.#stderr : this.#stdout).write(prefixed);
    this.#logFile?.write(prefixed);
    if (this.#options.logDir !== undefined && slot !== undefined) this.#slotFile(slot).write(`${lines.join('\n')}\n`);
  }

  #slotFile(slot: number): Sink {
    let file = this.#slotFiles.get(slot);
    if (file === undefined) {
      file = this.#sink(join(this.#options.logDir as string, `slot-${slot}.log`));
      this.#slotFiles.set(slot, file);
    }
    return file;
  }

  #dropped(lines: number): void {
    this.#droppedLines += lines;
    const suppressed = this.#dropLog.take(performance.now());
    if (suppressed !== undefined) {
      this.#log.warn({ droppedLines: this.#droppedLines }, 'app output dropped: a destination is not keeping up');
    }
  }
}
