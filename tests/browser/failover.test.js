// hls.js in headless Chromium (the web player, /watch/cam) playing a feed through nginx with
// deploy/nginx/shard.conf in front of three hlsd origins (only addresses and the cache path
// rewritten); the publisher (`hlsd push --loop --reconnect`, through nginx) rides out the
// loss of its origin, which is killed (SIGKILL) while the page plays. The page must play on:
// video.currentTime advances again after the kill. Run with `[hls] clock_numbering` on and
// off; prints the stall (the longest time after the kill with currentTime not advancing)
// and what hls.js reported (BENCHMARKS.md), never asserted as a time. The requests the page
// made go to target/browser-artifacts/failover-requests-*.txt.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { ROOT, ARTIFACTS, binary, startServer, launch } = require('./common');

const NGINX = fs.existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';
let dir, clip, context, log;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

async function waitListening(port, child, what) {
  for (let i = 0; i < 400; i++) {
    if (child.exitCode !== null) throw new Error(what + ' exited with ' + child.exitCode);
    const ok = await new Promise((r) => {
      const c = net.connect(port, '127.0.0.1', () => { c.destroy(); r(true); });
      c.on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(what + ' not listening on ' + port);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function replaceOnce(text, from, to) {
  assert.ok(text.includes(from), 'shard.conf lost ' + JSON.stringify(from));
  return text.split(from).join(to);
}

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  log = fs.createWriteStream(path.join(ARTIFACTS, 'hlsd-failover.log'));
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hlsd-failover-'));
  fs.chmodSync(dir, 0o755);
  // 8 s, 25 fps, a keyframe every second, AAC: what an encoder sends, looped by hlsd push.
  clip = path.join(dir, 'clip.ts');
  execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', '8', '-c:v', 'libx264',
    '-preset', 'veryfast', '-g', '25', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-f', 'mpegts', clip]);
  context = await launch(fs.mkdtempSync(path.join(dir, 'chromium-')));
});

after(async () => {
  if (context) await context.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  if (log) log.end();
});

/** Three origins, nginx with shard.conf before them, a publisher through nginx. */
async function startShards(clockNumbering, children) {
  const config = fs.readFileSync(path.join(ROOT, 'config.toml'), 'utf8');
  const withKey = replaceOnce(replaceOnce(config, '\nenabled = true\n', '\nenabled = false\n'),
    '\nclock_numbering = false\n', `\nclock_numbering = ${clockNumbering}\n`);
  const file = path.join(dir, `hlsd-${clockNumbering}.toml`);
  fs.writeFileSync(file, withKey);
  const origins = [];
  for (let i = 0; i < 3; i++) {
    const s = startServer(log, ['--config', file]);
    children.push(s.child);
    origins.push({ child: s.child, base: await s.url });
  }
  let conf = fs.readFileSync(path.join(ROOT, 'deploy/nginx/shard.conf'), 'utf8');
  origins.forEach((o, i) => {
    conf = replaceOnce(conf, `server 10.0.0.${i + 1}:8080 `, `server ${new URL(o.base).host} `);
  });
  const port = await freePort();
  const ng = path.join(dir, `nginx-${clockNumbering}`);
  fs.mkdirSync(ng);
  conf = replaceOnce(conf, 'listen 8080;', `listen 127.0.0.1:${port};`);
  conf = replaceOnce(conf, '/var/cache/nginx/hlsd-shards', path.join(ng, 'cache'));
  fs.writeFileSync(path.join(ng, 'shard.conf'), conf);
  fs.writeFileSync(path.join(ng, 'nginx.conf'), [
    'daemon off;', 'master_process off;', 'worker_processes 1;', `pid ${ng}/nginx.pid;`,
    `error_log ${ng}/error.log warn;`, 'events { worker_connections 1024; }',
    'http {', '  access_log off;',
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${ng};`),
    `  include ${ng}/shard.conf;`, '}', ''].join('\n'));
  const nginx = spawn(NGINX, ['-p', ng, '-c', path.join(ng, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  nginx.stderr.on('data', (d) => log.write(d));
  children.push(nginx);
  await waitListening(port, nginx, 'nginx');
  const router = `http://127.0.0.1:${port}`;
  const pusher = spawn(binary(), ['push', clip, router + '/ingest/cam', '--loop', '--reconnect'],
    { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'ignore', 'pipe'] });
  pusher.stderr.on('data', (d) => log.write(d));
  children.push(pusher);
  return { origins, router };
}

/** The origin that has the feed, asked directly. */
async function owner(origins) {
  for (const o of origins) {
    if (o.child.exitCode !== null || o.child.signalCode) continue;
    const res = await fetch(o.base + '/live/cam/index.m3u8').catch(() => null);
    if (res && res.ok) return o;
  }
  return null;
}

/** Plays /watch/cam through nginx, kills the feed's origin, samples currentTime for 25 s. */
async function playAcrossFailover(clockNumbering) {
  const children = [];
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  const requests = [];
  const t0 = Date.now();
  page.on('response', (r) => requests.push(((Date.now() - t0) / 1000).toFixed(2) + ' ' + r.status() + ' ' + r.url().replace(/^http:\/\/[^/]+/, '')));
  page.on('requestfailed', (r) => requests.push(((Date.now() - t0) / 1000).toFixed(2) + ' FAILED ' + r.url().replace(/^http:\/\/[^/]+/, '')));
  try {
    const { origins, router } = await startShards(clockNumbering, children);
    for (let i = 0; i < 100 && !(await owner(origins)); i++) await sleep(100);
    await page.goto(router + '/watch/cam');
    await page.waitForFunction(() => window.hlsdPlayer && window.hlsdPlayer.state === 'live', null,
      { timeout: 45000 });
    const sample = () => page.evaluate(() => ({ t: document.getElementById('video').currentTime, at: Date.now() }));
    const warm = [];
    for (let i = 0; i < 6; i++) { await sleep(1000); warm.push((await sample()).t); }
    assert.ok(warm[5] - warm[0] > 3, 'playing before the kill: ' + warm.join(' '));

    requests.push('--- kill at ' + ((Date.now() - t0) / 1000).toFixed(2));
    const o = await owner(origins);
    assert.ok(o, 'one origin has the feed');
    const kill = await sample();
    o.child.kill('SIGKILL');
    const samples = [];
    for (let i = 0; i < 250; i++) { await sleep(100); samples.push(await sample()); }
    // The longest time after the kill with currentTime not advancing.
    let stall = 0, since = kill.at, last = kill.t;
    for (const s of samples) {
      if (s.t > last + 0.01) { stall = Math.max(stall, s.at - since); since = s.at; last = s.t; } else if (s.t < last) { last = s.t; }
    }
    stall = Math.max(stall, samples[samples.length - 1].at - since);
    const player = await page.evaluate(() => ({
      fatal: window.hlsdPlayer.fatalErrors.map((e) => e.details + (e.code ? ' ' + e.code : '')),
      errors: window.hlsdPlayer.errors.map((e) => e.details + (e.code ? ' ' + e.code : '')),
      state: window.hlsdPlayer.state,
      log: [...document.querySelectorAll('#log li')].map((li) => li.textContent).reverse(),
      engine: window.hlsdPlayer.engine,
    }));
    await page.screenshot({ path: path.join(ARTIFACTS, `failover-clock-${clockNumbering}.png`) });
    const end = samples.slice(-50);
    console.log(`hls.js (${player.engine}) across an origin failover, clock_numbering ${clockNumbering}: ` +
      `longest stall ${(stall / 1000).toFixed(2)} s; currentTime ${kill.t.toFixed(2)} at the kill, ` +
      `${samples[samples.length - 1].t.toFixed(2)} 25 s later; fatal errors [${player.fatal.join(', ')}]; ` +
      `errors [${[...new Set(player.errors)].join(', ')}]; page log: ${player.log.join(' | ')}`);
    fs.writeFileSync(path.join(ARTIFACTS, `failover-requests-${clockNumbering}.txt`), requests.join('\n') + '\n');
    assert.deepEqual(pageErrors, []);
    return { stall, end, player };
  } finally {
    await page.close();
    for (const c of children.reverse()) if (c.exitCode === null && !c.signalCode) c.kill('SIGKILL');
    await sleep(300);
  }
}

// ONLY=true or ONLY=false runs one of the two.
for (const clockNumbering of (process.env.ONLY ? [process.env.ONLY === 'true'] : [true, false])) {
  test(`hls.js plays on through nginx when the feed's origin dies (clock_numbering ${clockNumbering})`,
    { timeout: 150000 }, async () => {
      const { end } = await playAcrossFailover(clockNumbering);
      // The last 5 s: playing again, on the next origin.
      assert.ok(end[end.length - 1].t - end[0].t > 3,
        'currentTime advances after the failover: ' + end.map((s) => s.t.toFixed(2)).join(' '));
    });
}
