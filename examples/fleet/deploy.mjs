// A fleet deploy, as a CI/CD job runs it: the hosts are reloaded one at a time. Each step waits for
// the host's control socket to report that its reload completed (every slot's new worker ready, the
// old ones drained), then for the host's /readyz to answer 200, before the next host starts. A reload
// that fails stops the deploy: that host keeps its old workers and the later hosts are not touched.
//
//   node examples/fleet/deploy.mjs <control-socket>=<readyz-url> [...]
//   node examples/fleet/deploy.mjs /srv/a/sticky-runtime.sock=http://10.0.0.10:9464/readyz \
//                                  /srv/b/sticky-runtime.sock=http://10.0.0.11:9464/readyz
//
// A control socket is a Unix socket on its host: on separate machines, run this step there (for
// example `ssh host sticky-runtime reload`) and keep the order and the gates. Exit code 0 when every
// host was reloaded, 1 when a reload failed or a host did not become ready, 2 for bad arguments.
// READY_TIMEOUT (ms, default 60000) bounds the wait for each /readyz.
import { execFile } from 'node:child_process';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const READY_TIMEOUT = Number(process.env.READY_TIMEOUT ?? 60_000);

/** The `sticky-runtime` command of the installed package. */
function stickyRuntimeBin() {
  const manifest = new URL(import.meta.resolve('sticky-runtime/package.json'));
  const { bin } = JSON.parse(readFileSync(manifest, 'utf8'));
  return fileURLToPath(new URL(bin['sticky-runtime'], manifest));
}

/** `sticky-runtime reload` over the host's control socket: resolves once the host reports the reload complete. */
function reload(controlSocket) {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [stickyRuntimeBin(), 'reload', '--control-socket', controlSocket], (error, stdout, stderr) => {
      if (error) reject(new Error(`reload failed (exit ${error.code}): ${stderr.trim()}`));
      else resolve(`${stderr}${stdout}`.trim());
    });
    child.stdin?.end();
  });
}

function status(url) {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

async function untilReady(url) {
  const deadline = Date.now() + READY_TIMEOUT;
  while ((await status(url)) !== 200) {
    if (Date.now() > deadline) throw new Error(`${url} not 200 within ${READY_TIMEOUT} ms`);
    await delay(200);
  }
}

const hosts = process.argv.slice(2).map((arg) => {
  const at = arg.lastIndexOf('=');
  return at > 0 ? { controlSocket: arg.slice(0, at), readyz: arg.slice(at + 1) } : undefined;
});
if (hosts.length === 0 || hosts.includes(undefined)) {
  console.error('usage: node examples/fleet/deploy.mjs <control-socket>=<readyz-url> [...]');
  process.exit(2);
}

for (const [index, host] of hosts.entries()) {
  const step = `host ${index + 1}/${hosts.length} (${host.controlSocket})`;
  try {
    console.log(`${step}: reloading`);
    console.log(await reload(host.controlSocket));
    await untilReady(host.readyz);
    console.log(`${step}: reloaded and ready`);
  } catch (error) {
    console.error(`${step}: ${error.message}; deploy stopped, hosts after it keep their old workers`);
    process.exit(1);
  }
}
console.log(`deployed: ${hosts.length} hosts reloaded one at a time`);
