// A WebSocket client for the demo: connects, sends a few messages and prints the echoes.
//
//   node examples/ws-client.mjs [--from 127.0.0.2] [--host 127.0.0.1] [--port 3000] [--stay]
//
// --from picks the local address (like curl --interface), so you can see that one client address
// always reaches the same worker. --stay keeps the socket open until the server closes it; a reload
// of the demo (kill -HUP) moves it to the slot's next worker, which says so and answers from then on.
import { parseArgs } from 'node:util';
import { WebSocket } from 'ws';

const { values } = parseArgs({
  options: {
    from: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: process.env.PORT ?? '3000' },
    stay: { type: 'boolean', default: false },
  },
});

const url = `ws://${values.host}:${values.port}/`;
const messages = ['hello', 'is it still you?', 'bye'];
const ws = new WebSocket(url, values.from === undefined ? {} : { localAddress: values.from });
let received = 0;

const giveUp = setTimeout(() => {
  console.error('no answer within 5 s');
  process.exitCode = 1;
  ws.terminate();
}, 5_000);

ws.on('open', () => {
  console.log(`connected to ${url}${values.from === undefined ? '' : ` from ${values.from}`}`);
  for (const message of messages) {
    console.log(`> ${message}`);
    ws.send(message);
  }
});

ws.on('message', (data) => {
  console.log(`< ${data}`);
  // A reload moved this connection to another worker: ask it something.
  if (String(data).includes('took over your connection')) {
    console.log('> still there?');
    ws.send('still there?');
    return;
  }
  // The server greets first, then echoes each message.
  if (++received < messages.length + 1) return;
  clearTimeout(giveUp);
  if (values.stay) console.log('staying connected; stop the demo to see the server close this socket');
  else ws.close(1000, 'done');
});

ws.on('close', (code, reason) => {
  clearTimeout(giveUp);
  console.log(`closed: ${code}${reason.length > 0 ? ` ${reason}` : ''}`);
});

ws.on('error', (error) => {
  clearTimeout(giveUp);
  console.error(`error: ${error.message}`);
  process.exitCode = 1;
});
