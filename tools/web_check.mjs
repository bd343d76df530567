// Opens a page in headless Chromium (WebGPU on SwiftShader where there is no GPU), waits until
// the page says it is done (`document.body.dataset.state` is done or error), takes a screenshot
// and prints one JSON line: {state, result, message, verdict, console}. Plain Node, no packages:
// Chromium's DevTools protocol over --remote-debugging-pipe (file descriptors 3 and 4).
//
//   node tools/web_check.mjs URL SCREENSHOT.png TIMEOUT_S [extra Chromium flags...]
//
// CHROMIUM names the browser (default /usr/bin/chromium). Used by tests/all/web.rs.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [url, shot, timeoutS = '120', ...extra] = process.argv.slice(2);
if (!url || !shot) {
  console.error('usage: node tools/web_check.mjs URL SCREENSHOT.png TIMEOUT_S [chromium flags...]');
  process.exit(2);
}
const profile = mkdtempSync(join(tmpdir(), 'tdfas-chromium-'));
const flags = [
  '--headless=new', '--no-sandbox', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-quic', '--disable-default-apps',
  '--window-size=1200,860', `--user-data-dir=${profile}`, '--remote-debugging-pipe',
  ...extra, 'about:blank',
];
const proc = spawn(process.env.CHROMIUM || '/usr/bin/chromium', flags, { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
let stderr = '';
proc.stdio[2].on('data', (d) => { stderr = (stderr + d).slice(-4000); });
const [toBrowser, fromBrowser] = [proc.stdio[3], proc.stdio[4]];

const pending = new Map();
const consoleLines = [];
let nextId = 1;
let buf = Buffer.alloc(0);
fromBrowser.on('data', (d) => {
  buf = Buffer.concat([buf, d]);
  for (let i; (i = buf.indexOf(0)) >= 0; buf = buf.subarray(i + 1)) {
    const msg = JSON.parse(buf.subarray(0, i).toString());
    const p = pending.get(msg.id);
    if (p) {
      pending.delete(msg.id);
      msg.error ? p.reject(new Error(`${p.method}: ${msg.error.message}`)) : p.resolve(msg.result);
    } else if (msg.method === 'Runtime.consoleAPICalled') {
      consoleLines.push(msg.params.args.map((a) => a.value ?? a.description ?? '').join(' ').slice(0, 2000));
    } else if (msg.method === 'Runtime.exceptionThrown') {
      consoleLines.push('exception: ' + (msg.params.exceptionDetails.exception?.description ?? msg.params.exceptionDetails.text));
    }
  }
});
function send(method, params = {}, sessionId) {
  const id = nextId++;
  toBrowser.write(JSON.stringify({ id, method, params, sessionId }) + '\0');
  return new Promise((resolve, reject) => pending.set(id, { resolve, reject, method }));
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let out;
const timer = setTimeout(() => {
  console.log(JSON.stringify({ state: 'browser-timeout', console: consoleLines, stderr }));
  proc.kill('SIGKILL');
  process.exit(1);
}, (Number(timeoutS) + 30) * 1000);
try {
  const { targetId } = await send('Target.createTarget', { url: 'about:blank' });
  const { sessionId } = await send('Target.attachToTarget', { targetId, flatten: true });
  const evaluate = async (expression) =>
    (await send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true }, sessionId)).result.value;
  await send('Runtime.enable', {}, sessionId);
  await send('Page.enable', {}, sessionId);
  await send('Page.navigate', { url }, sessionId);
  const deadline = Date.now() + Number(timeoutS) * 1000;
  let state = 'loading';
  while (Date.now() < deadline) {
    state = await evaluate('document.body ? document.body.dataset.state : "loading"').catch(() => 'loading');
    if (state === 'done' || state === 'error') break;
    await sleep(250);
  }
  await sleep(400); // the last paint
  const { data } = await send('Page.captureScreenshot', { format: 'png' }, sessionId);
  writeFileSync(shot, Buffer.from(data, 'base64'));
  const page = await evaluate(`({
    result: window.tdfasResult ?? null,
    message: document.getElementById('message')?.textContent ?? '',
    verdict: document.getElementById('verdict')?.textContent ?? '',
    adapter: document.getElementById('adapter')?.textContent ?? '' })`);
  out = { state: ['done', 'error'].includes(state) ? state : 'timeout', ...page, console: consoleLines };
  await send('Browser.close').catch(() => {});
} catch (e) {
  out = { state: 'driver-error', error: String(e), console: consoleLines, stderr };
}
clearTimeout(timer);
console.log(JSON.stringify(out));
await sleep(200);
proc.kill('SIGKILL');
rmSync(profile, { recursive: true, force: true });
process.exit(0);
