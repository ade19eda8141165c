// The primary side the bus examples share: WORKERS workers (default 4) behind PORT (default 3000) on
// loopback. `setUp(bus, primary)` registers the example's listeners and responders before anything
// can reach them; the returned promise resolves once every slot has a ready worker (with
// `waitForWorkers: false`, once the port is bound: the example may be done before the last is ready).
import { createPrimary } from '../../dist/index.js';

export async function startBusPrimary(setUp = () => {}, { waitForWorkers = true } = {}) {
  const primary = createPrimary({ workers: Number(process.env.WORKERS ?? 4) });
  setUp(primary.bus(), primary);
  const { port } = await primary.listen(Number(process.env.PORT ?? 3000), '127.0.0.1');
  if (waitForWorkers) await primary.whenReady();
  console.log(`listening on http://127.0.0.1:${port}/`);
  // A parent process that forked the example (the tests do) learns the port, and the example goes when it goes.
  process.send?.({ type: 'ready', port });
  process.on('disconnect', () => void primary.close({ waitForConnections: false }));
  return primary;
}
