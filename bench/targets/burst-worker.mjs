// Worker of bench/handoff-burst.mjs: answers every socket the primary hands over with "ok" and
// closes it. Whatever the message says (the naive handoff and the WorkerLink send different
// envelopes), a message that carries a handle is a connection.
process.on('message', (_message, handle) => {
  if (handle === undefined) return;
  handle.on('error', () => {}); // a client gone early is not this benchmark's concern
  handle.resume(); // read the client's FIN, so the socket closes instead of lingering half-open
  handle.end('ok');
});
process.send({ type: 'ready' });
