// What the CLI prints from the control socket's answers, made safe for a terminal: whatever answers
// there could send escape sequences that clear the screen, move the cursor, retitle the window or
// write to the clipboard. Pure.

/** ESC and C1 sequences as terminals parse them: CSI, string commands (OSC, DCS, SOS, PM, APC), the rest. */
const SEQUENCES = new RegExp([
  '\\x1b\\[[\\x30-\\x3f]*[\\x20-\\x2f]*[\\x40-\\x7e]',
  '\\x9b[\\x30-\\x3f]*[\\x20-\\x2f]*[\\x40-\\x7e]',
  '\\x1b[\\]PX^_][^\\x07\\x1b\\x9c]*(?:\\x07|\\x1b\\\\|\\x9c)?',
  '[\\x90\\x98\\x9d\\x9e\\x9f][^\\x07\\x1b\\x9c]*(?:\\x07|\\x1b\\\\|\\x9c)?',
  '\\x1b[\\x20-\\x2f]*[\\x30-\\x7e]',
].join('|'), 'g');

/** C0 controls but tab and newline, DEL and C1 controls. */
const CONTROLS = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;

/** `text` without escape sequences and control characters; tabs and newlines stay. */
export function stripControl(text: string): string {
  return text.replace(SEQUENCES, '').replace(CONTROLS, '');
}

/**
 * JSON for a terminal: JSON.stringify escapes C0 controls in strings, but writes DEL and C1 controls
 * as they are; these are escaped too. Still valid JSON of the same value.
 */
export function terminalJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/[\x7f-\x9f]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
