// hls.js in headless Chromium playing hlsd's demo feed through Varnish started from
// deploy/varnish/hlsd.vcl (only the backend port rewritten): the web player's watch page,
// hls.js and every playlist, part and segment come through the cache. Prints hls.latency
// through the cache and direct, measured the same way one after the other (BENCHMARKS.md).
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { ROOT, ARTIFACTS, startServer, launch } = require('./common');

const VARNISHD = fs.existsSync('/usr/sbin/varnishd') ? '/usr/sbin/varnishd' : 'varnishd';
let server, base, varnish, cached, context, dir, log;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

async function waitListening(port, child) {
  for (let i = 0; i < 400; i++) {
    if (child.exitCode !== null) throw new Error('varnishd exited with ' + child.exitCode);
    const ok = await new Promise((r) => {
      const c = net.connect(port, '127.0.0.1', () => { c.destroy(); r(true); });
      c.on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('varnishd not listening on ' + port);
}

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  log = fs.createWriteStream(path.join(ARTIFACTS, 'hlsd-caches.log'));
  const s = startServer(log);
  server = s.child;
  base = await s.url;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hlsd-varnish-'));
  const vcl = fs.readFileSync(path.join(ROOT, 'deploy/varnish/hlsd.vcl'), 'utf8');
  const origin = new URL(base).port;
  assert.ok(vcl.includes('.port = "8080";'), 'the VCL names its backend port');
  fs.writeFileSync(path.join(dir, 'hlsd.vcl'), vcl.replace('.port = "8080";', `.port = "${origin}";`));
  const port = await freePort();
  varnish = spawn(VARNISHD, ['-F', '-j', 'none', '-n', path.join(dir, 'varnish'),
    '-a', `127.0.0.1:${port}`, '-f', path.join(dir, 'hlsd.vcl'), '-s', 'malloc,64m'],
  { stdio: ['ignore', 'ignore', 'pipe'] });
  varnish.stderr.on('data', (d) => log.write(d));
  await waitListening(port, varnish);
  cached = `http://127.0.0.1:${port}`;
  context = await launch(fs.mkdtempSync(path.join(dir, 'chromium-')));
});

after(async () => {
  if (context) await context.close();
  if (varnish && varnish.exitCode === null) varnish.kill('SIGTERM');
  if (server && server.exitCode === null) server.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 300));
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  if (log) log.end();
});

/** Plays /watch/demo from `origin` for `seconds`; returns currentTime samples and latencies. */
async function play(origin, seconds, shot) {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  try {
    await page.goto(origin + '/watch/demo');
    await page.waitForFunction(() => window.hlsdPlayer && window.hlsdPlayer.state === 'live', null,
      { timeout: 45000 });
    const times = [];
    const latency = [];
    for (let i = 0; i < seconds; i++) {
      await page.waitForTimeout(1000);
      const s = await page.evaluate(() => ({
        t: document.getElementById('video').currentTime,
        l: window.hlsdPlayer.latency,
        fatal: window.hlsdPlayer.fatalErrors,
      }));
      times.push(s.t);
      if (Number.isFinite(s.l)) latency.push(s.l);
      assert.deepEqual(s.fatal, [], 'no fatal hls.js error');
    }
    await page.screenshot({ path: path.join(ARTIFACTS, shot) });
    assert.deepEqual(errors, []);
    return { times, latency };
  } finally {
    await page.close();
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
};

test('hls.js plays the LL-HLS demo through Varnish', { timeout: 150000 }, async () => {
  const through = await play(cached, 12, 'watch-varnish.png');
  const t = through.times;
  assert.ok(t[t.length - 1] - t[0] > 9, 'currentTime advanced through the cache: ' + t.join(' '));
  for (let i = 1; i < t.length; i++) assert.ok(t[i] > t[i - 1], 'advancing at every second');
  const direct = await play(base, 12, 'watch-direct.png');
  console.log('hls.latency median through Varnish', median(through.latency).toFixed(3), 's (' +
    through.latency.length + ' samples), direct', median(direct.latency).toFixed(3), 's (' +
    direct.latency.length + ' samples)');
});
