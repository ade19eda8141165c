import { describe, expect, it } from 'vitest';
import { stripControl, terminalJson } from '../../src/cli/terminal-text.js';

describe('stripControl', () => {
  it('keeps text, tabs and newlines', () => {
    expect(stripControl('running · 2 slots\tok\nSLOT  PID\n')).toBe('running · 2 slots\tok\nSLOT  PID\n');
  });

  it.each([
    ['clear screen (CSI)', 'a\x1b[2Jb', 'ab'],
    ['colour with parameters', '\x1b[1;31mred\x1b[0m', 'red'],
    ['cursor moves and private modes', '\x1b[?25l\x1b[10;10Hx', 'x'],
    ['window title (OSC, BEL)', '\x1b]0;owned\x07title', 'title'],
    ['clipboard write (OSC 52, ST)', '\x1b]52;c;aGk=\x1b\\after', 'after'],
    ['unterminated OSC', 'before\x1b]0;rest', 'before'],
    ['DCS', '\x1bPq#0;2;0;0;0\x1b\\x', 'x'],
    ['two-character ESC (reset, charset)', '\x1bc\x1b(0x', 'x'],
    ['C1 CSI', 'a\x9b2Jb', 'ab'],
    ['C1 OSC', 'a\x9d0;t\x9cb', 'ab'],
    ['carriage return and backspace', 'ok\r\x08\x08FAIL', 'okFAIL'],
    ['bell, NUL, DEL and other C1', '\x07\x00a\x7f\x85b', 'ab'],
    ['a lone ESC at the end', 'a\x1b', 'a'],
  ])('removes %s', (_, input, output) => {
    expect(stripControl(input)).toBe(output);
  });
});

describe('terminalJson', () => {
  it('escapes every control character and stays the same JSON value', () => {
    const value = { state: 'x\x1b[2J\x9b2J\x7f\u0085', n: 1 };
    const text = terminalJson(value);
    expect(text).not.toMatch(/[\x00-\x1f\x7f-\x9f]/);
    expect(JSON.parse(text)).toEqual(value);
  });
});
