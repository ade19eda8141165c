// The Express app of bench/pm2-side-by-side.mjs, the same module for both sides: `sticky-runtime serve`
// loads it as exported, PM2's cluster mode runs express-pm2.cjs, which only adds the listen() call.
// Every response names its worker (`x-worker: <pid>`). GET / answers `ok` at once; GET /slow?ms=N sends
// the head and a first line at once, the rest N ms later (at most 10 s): a request in flight whose
// arrival the client can see. No signal handling of its own: what a plain app gets from its runner.
const express = require('express');

const app = express();
app.get('/', (_req, res) => {
  res.set('x-worker', String(process.pid)).send('ok');
});
app.get('/slow', (req, res) => {
  const ms = Math.min(Math.max(Number(req.query.ms) || 0, 0), 10_000);
  res.writeHead(200, { 'content-type': 'text/plain', 'x-worker': String(process.pid) });
  res.write('started\n');
  setTimeout(() => res.end('done\n'), ms);
});
module.exports = app;
