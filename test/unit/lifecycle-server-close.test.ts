import { describe, expect, it } from 'vitest';
import { decideAppClose, decideServerClose, needsSuccessor, type ServerCloseFacts } from '../../src/lifecycle/server-close.js';

// The application closing a worker's server: which close counts as leaving the slot (worker side), what
// the primary does about it, and whether the slot still needs the successor when its turn comes.

describe('decideAppClose (worker)', () => {
  it('reports a first close of a serving worker with a primary to tell', () => {
    expect(decideAppClose('running', 'none', true)).toBe('report');
  });

  it('leaves every close during the runtime\'s own drain or exit hooks to Node', () => {
    expect(decideAppClose('draining', 'none', true)).toBe('passThrough');
    expect(decideAppClose('closing', 'none', true)).toBe('passThrough');
  });

  it('leaves a close after the first one completed, or without a primary, to Node', () => {
    expect(decideAppClose('running', 'done', true)).toBe('passThrough');
    expect(decideAppClose('running', 'none', false)).toBe('passThrough');
  });

  it('queues a repeated close while the first waits for the primary', () => {
    expect(decideAppClose('running', 'pending', true)).toBe('queue');
    expect(decideAppClose('running', 'pending', false)).toBe('queue');
  });
});

describe('decideServerClose (primary)', () => {
  const serving: ServerCloseFacts = { isShuttingDown: false, isRetiring: false, isReady: true, hasClosedServer: false };

  it('replaces a ready worker that serves its slot', () => {
    expect(decideServerClose(serving)).toBe('replace');
  });

  it('forks nothing once shutdown began, but stops routing to the worker', () => {
    expect(decideServerClose({ ...serving, isShuttingDown: true })).toBe('withdraw');
    expect(decideServerClose({ ...serving, isShuttingDown: true, isReady: false })).toBe('withdraw');
  });

  it('ignores a worker already retiring (its close message ends it) and a repeated report', () => {
    expect(decideServerClose({ ...serving, isRetiring: true })).toBe('ignore');
    expect(decideServerClose({ ...serving, isRetiring: true, isShuttingDown: true })).toBe('ignore');
    expect(decideServerClose({ ...serving, hasClosedServer: true })).toBe('ignore');
  });

  it('gives up on a worker that closed its server before it was ready (a failed start)', () => {
    expect(decideServerClose({ ...serving, isReady: false })).toBe('giveUp');
  });
});

describe('needsSuccessor', () => {
  it('while the closed worker still holds its slot', () => {
    expect(needsSuccessor(false, 7, 7)).toBe(true);
  });

  it('when the closed worker already exited and left the slot vacant', () => {
    expect(needsSuccessor(true, undefined, 7)).toBe(true);
  });

  it('not when another worker holds the slot, or a respawn is pending or the slot failed', () => {
    expect(needsSuccessor(false, 8, 7)).toBe(false);
    expect(needsSuccessor(false, undefined, 7)).toBe(false);
  });
});
