import { describe, expect, it } from 'vitest';
import { untrustedReason, type PathFacts } from '../../src/cli/socket-trust.js';

const ME = 1000;
const facts = (uid: number, mode: number, kind: 'socket' | 'file' | 'link' | 'dir'): PathFacts => ({
  uid, mode, isSocket: () => kind === 'socket', isSymbolicLink: () => kind === 'link',
});
const socket = facts(ME, 0o140600, 'socket');
const ownDir = facts(ME, 0o40700, 'dir');

describe('untrustedReason', () => {
  it('trusts my socket in my directory or a root-owned one that only root writes', () => {
    expect(untrustedReason(socket, ownDir, ME)).toBeUndefined();
    expect(untrustedReason(socket, facts(0, 0o40755, 'dir'), ME)).toBeUndefined();
    expect(untrustedReason(facts(0, 0o140600, 'socket'), facts(0, 0o40755, 'dir'), 0)).toBeUndefined();
  });

  it('refuses what is not my socket', () => {
    expect(untrustedReason(facts(ME, 0o100644, 'file'), ownDir, ME)).toBe('it is not a socket');
    expect(untrustedReason(facts(ME, 0o120777, 'link'), ownDir, ME)).toBe('it is a symbolic link');
    expect(untrustedReason(facts(65_534, 0o140600, 'socket'), ownDir, ME)).toBe('it belongs to uid 65534, not to you (uid 1000)');
    // root too uses only its own sockets.
    expect(untrustedReason(facts(ME, 0o140600, 'socket'), facts(0, 0o40755, 'dir'), 0)).toBe('it belongs to uid 1000, not to you (uid 0)');
  });

  it('refuses a directory another user owns or may write to, sticky bit or not', () => {
    expect(untrustedReason(socket, facts(1001, 0o40755, 'dir'), ME)).toBe('its directory belongs to uid 1001, who could replace it');
    expect(untrustedReason(socket, facts(ME, 0o40770, 'dir'), ME)).toBe('its directory is writable by its group (mode 770), who could replace it');
    expect(untrustedReason(socket, facts(0, 0o41777, 'dir'), ME)).toBe('its directory is writable by other users (mode 1777), who could replace it');
  });
});
