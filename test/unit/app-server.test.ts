import http from 'node:http';
import net from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import Koa from 'koa';
import { describe, expect, it } from 'vitest';
import { detectApp, resolveApp } from '../../src/app-server.js';

describe('detectApp', () => {
  it('takes any net.Server as it is, with nothing to wait for', () => {
    for (const server of [http.createServer(), net.createServer()]) {
      expect(detectApp(server)).toEqual({ server, whenReady: undefined, kind: 'server' });
    }
  });

  it('serves a Fastify app through app.server and waits for app.ready()', async () => {
    const app = Fastify();
    let isLoaded = false;
    app.register(async () => { isLoaded = true; });
    const resolved = detectApp(app);
    expect(resolved?.kind).toBe('fastify');
    expect(resolved?.server).toBe(app.server);
    expect(isLoaded).toBe(false);
    await resolved?.whenReady?.();
    expect(isLoaded).toBe(true);
    await app.close();
  });

  it('wraps Express and Koa apps in a new http.Server', () => {
    const expressApp = detectApp(express());
    expect(expressApp?.kind).toBe('express');
    expect(expressApp?.server).toBeInstanceOf(http.Server);
    const koaApp = detectApp(new Koa());
    expect(koaApp?.kind).toBe('koa');
    expect(koaApp?.server).toBeInstanceOf(http.Server);
  });

  it('recognises nothing else', () => {
    for (const value of [undefined, null, {}, () => {}, { server: {}, ready: () => {} }, { callback: 1, use: () => {} }, 'server']) {
      expect(detectApp(value)).toBeUndefined();
    }
  });
});

describe('resolveApp', () => {
  it('throws STICKY_ERR_INVALID_OPTION naming what it expected and what it got', () => {
    expect(() => resolveApp({ listen: () => {} })).toThrow(expect.objectContaining({
      code: 'STICKY_ERR_INVALID_OPTION',
      message: expect.stringMatching(/Expected `server` to be a net\.Server .*Fastify, Express or Koa app, received/),
    }));
  });
});
