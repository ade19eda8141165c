import { StringDecoder } from 'node:string_decoder';

// A worker's output arrives in chunks that cut lines anywhere (and UTF-8 characters too): this gives
// whole lines. A line longer than `maxLine` characters is cut into pieces of that size, each given
// out as a line of its own, so a worker that never writes a newline cannot make the primary buffer
// without bound. Pure: no streams, no timers.

export class LineSplitter {
  readonly #maxLine: number;
  readonly #decoder = new StringDecoder('utf8');
  #partial = '';

  constructor(maxLine: number) {
    this.#maxLine = maxLine;
  }

  /** The whole lines completed by `chunk`, without their newline (`\r\n` counts as one). */
  push(chunk: Buffer | string): string[] {
    const text = this.#partial + (typeof chunk === 'string' ? chunk : this.#decoder.write(chunk));
    const lines: string[] = [];
    let start = 0;
    for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
      this.#cut(text.slice(start, end > start && text.charCodeAt(end - 1) === 13 ? end - 1 : end), lines, true);
      start = end + 1;
    }
    this.#partial = '';
    this.#cut(text.slice(start), lines, false);
    return lines;
  }

  /** The last, unterminated line (the stream ended), if any. */
  end(): string[] {
    const rest = this.#partial + this.#decoder.end();
    this.#partial = '';
    return rest === '' ? [] : [rest];
  }

  /** Adds `line` to `lines` in pieces of at most maxLine; an unterminated tail shorter than that waits. */
  #cut(line: string, lines: string[], isComplete: boolean): void {
    let at = 0;
    while (line.length - at > this.#maxLine) {
      lines.push(line.slice(at, at + this.#maxLine));
      at += this.#maxLine;
    }
    const rest = line.slice(at);
    if (isComplete) lines.push(rest);
    else this.#partial = rest;
  }
}
