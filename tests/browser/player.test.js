// Headless Chromium test of the web player: starts the hlsd binary (demo feed on) on a free
// port, opens `/` and `/watch/demo` in /usr/bin/chromium through playwright-core, and
// checks that the demo plays: `video.currentTime` advances for several seconds and hls.js
// reports no fatal error; further hlsd instances cover ended feeds, an ABR ladder and signed
// playback (`hlsd sign`, `/s/.../watch/demo`). Screenshots go to target/browser-artifacts/.
//
// HLSD_BIN picks the binary; otherwise target/release/hlsd or target/debug/hlsd (under
// CARGO_TARGET_DIR when set), whichever is newer.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { ROOT, ARTIFACTS, binary, startServer, stopServer, launch } = require('./common');

let server, base, context, userDataDir, log;
const pageErrors = [];

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  log = fs.createWriteStream(path.join(ARTIFACTS, 'hlsd.log'));
  const s = startServer(log);
  server = s.child;
  base = await s.url;
  userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hlsd-chromium-'));
  context = await launch(userDataDir);
  context.on('weberror', (e) => pageErrors.push(String(e.error())));
});

after(async () => {
  if (context) await context.close();
  await stopServer(server);
  if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
  if (log) log.end();
});

test('the feed list loads, and lists the demo once /api/feeds exists', { timeout: 30000 }, async () => {
  const page = await context.newPage();
  await page.goto(base + '/');
  await page.waitForFunction(() => document.getElementById('refresh').textContent !== 'loading…');
  const api = await fetch(base + '/api/feeds');
  if (api.status === 200) {
    await page.locator('#feeds td.name', { hasText: 'demo' }).first().waitFor({ timeout: 15000 });
  } else {
    assert.equal(await page.locator('#empty').isVisible(), true, 'an explicit empty state');
    assert.match(await page.locator('#empty-title').textContent(), /No feed list/);
  }
  await page.screenshot({ path: path.join(ARTIFACTS, 'index.png') });
  await page.close();
  assert.deepEqual(pageErrors, []);
});

test('the demo feed plays for several seconds without a fatal error', { timeout: 90000 }, async () => {
  const page = await context.newPage();
  await page.goto(base + '/watch/demo');
  await page.waitForFunction(() => window.hlsdPlayer && window.hlsdPlayer.state === 'live', null,
    { timeout: 45000 });
  const t0 = await page.evaluate(() => document.getElementById('video').currentTime);
  const times = [];
  for (let i = 0; i < 8; i++) {
    await page.waitForTimeout(1000);
    times.push(await page.evaluate(() => document.getElementById('video').currentTime));
  }
  const player = await page.evaluate(() => ({
    engine: window.hlsdPlayer.engine,
    fatal: window.hlsdPlayer.fatalErrors,
    latency: window.hlsdPlayer.latency,
    wall: window.hlsdPlayer.wallLatency,
  }));
  await page.screenshot({ path: path.join(ARTIFACTS, 'watch.png') });
  await page.close();
  console.log('currentTime', t0.toFixed(2), '→', times.map((t) => t.toFixed(2)).join(' '),
    '| engine', player.engine, '| latency', player.latency, 'wall', player.wall);
  assert.match(player.engine, /^hls\.js /);
  assert.deepEqual(player.fatal, []);
  assert.ok(times[times.length - 1] - t0 > 6, 'currentTime advanced: ' + t0 + ' → ' + times);
  for (let i = 1; i < times.length; i++) assert.ok(times[i] > times[i - 1], 'advancing at every second');
  assert.ok(Number.isFinite(player.latency) && player.latency > 0, 'hls.latency shown');
  assert.ok(Number.isFinite(player.wall), 'wall-clock latency from PROGRAM-DATE-TIME shown');
  assert.deepEqual(pageErrors, []);
});

test('a feed that does not exist says so', { timeout: 30000 }, async () => {
  const page = await context.newPage();
  await page.goto(base + '/watch/no-such-feed');
  await page.waitForFunction(() => window.hlsdPlayer && window.hlsdPlayer.state === 'missing', null,
    { timeout: 20000 });
  assert.match(await page.locator('#overlay-title').textContent(), /No feed named/);
  await page.screenshot({ path: path.join(ARTIFACTS, 'missing.png') });
  await page.close();
});

test('the player says when the feed ends and comes back when it is published again', { timeout: 120000 }, async () => {
  // A second hlsd without the demo and with a short reconnect grace; `hlsd push` publishes.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hlsd-browser-'));
  const config = fs.readFileSync(path.join(ROOT, 'config.toml'), 'utf8')
    .replace(/^reconnect_grace = .*$/m, 'reconnect_grace = 1.0')
    .replace(/^enabled = true$/m, 'enabled = false');
  fs.writeFileSync(path.join(dir, 'hlsd.toml'), config);
  const s = startServer(log, ['--config', path.join(dir, 'hlsd.toml')]);
  const url = await s.url;
  const push = () => spawn(binary(), ['push', path.join(ROOT, 'web/demo.ts'), url + '/ingest/cam', '--loop'],
    { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let pusher = push();
  const page = await context.newPage();
  try {
    await page.goto(url + '/watch/cam');
    const state = (want, timeout) => page.waitForFunction((w) => window.hlsdPlayer.state === w, want, { timeout });
    await state('live', 45000);
    pusher.kill('SIGKILL');
    await state('ended', 40000);
    assert.match(await page.locator('#overlay-title').textContent(), /ended/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'ended.png') });
    pusher = push();
    await state('live', 60000);
    const t0 = await page.evaluate(() => document.getElementById('video').currentTime);
    await page.waitForTimeout(3000);
    const t1 = await page.evaluate(() => document.getElementById('video').currentTime);
    assert.ok(t1 - t0 > 2, 'plays again: ' + t0 + ' → ' + t1);
  } finally {
    await page.close();
    pusher.kill('SIGKILL');
    s.child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('an ABR ladder of three pushed renditions plays in hls.js', { timeout: 150000 }, async () => {
  // 1280x720 and 640x360 video and an audio-only rendition, made with ffmpeg and pushed in a
  // loop by `hlsd push` to a second hlsd (demo off): the player sees two levels and an
  // audio track, and plays.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hlsd-abr-'));
  const make = (name, args) => {
    const out = path.join(dir, name);
    execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', ...args.split(/\s+/), '-f', 'mpegts', out]);
    return out;
  };
  const video = (size, rate) => `-f lavfi -i testsrc2=size=${size}:rate=25 -t 8 -c:v libx264 -preset ultrafast ` +
    `-pix_fmt yuv420p -g 25 -sc_threshold 0 -b:v ${rate} -an`;
  const files = {
    '720p': make('720p.ts', video('1280x720', '1500k')),
    '360p': make('360p.ts', video('640x360', '400k')),
    audio: make('audio.ts', '-f lavfi -i sine=frequency=440:sample_rate=48000 -t 8 -c:a aac -b:a 96k'),
  };
  const config = fs.readFileSync(path.join(ROOT, 'config.toml'), 'utf8').replace(/^enabled = true$/m, 'enabled = false');
  fs.writeFileSync(path.join(dir, 'hlsd.toml'), config);
  const s = startServer(log, ['--config', path.join(dir, 'hlsd.toml')]);
  const url = await s.url;
  const pushers = Object.entries(files).map(([name, file]) =>
    spawn(binary(), ['push', file, url + '/ingest/abr/' + name, '--loop'], { stdio: ['ignore', 'ignore', 'pipe'] }));
  const page = await context.newPage();
  try {
    // Players read the multivariant playlist once: wait until every rendition is in it.
    for (let i = 0; i < 60; i++) {
      const r = await fetch(url + '/live/abr/index.m3u8');
      const text = r.status === 200 ? await r.text() : '';
      if ((text.match(/#EXT-X-STREAM-INF/g) || []).length === 2 && text.includes('#EXT-X-MEDIA:TYPE=AUDIO')) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    await page.goto(url + '/watch/abr');
    await page.waitForFunction(() => window.hlsdPlayer && window.hlsdPlayer.state === 'live', null, { timeout: 45000 });
    const t0 = await page.evaluate(() => document.getElementById('video').currentTime);
    await page.waitForTimeout(5000);
    const seen = await page.evaluate(() => ({
      t: document.getElementById('video').currentTime,
      levels: window.hlsdPlayer.hls.levels.map((l) => l.height),
      audioTracks: window.hlsdPlayer.hls.audioTracks.length,
      fatal: window.hlsdPlayer.fatalErrors,
    }));
    await page.screenshot({ path: path.join(ARTIFACTS, 'abr.png') });
    console.log('# abr levels', seen.levels.join(','), 'audio tracks', seen.audioTracks, 'currentTime', t0, '→', seen.t);
    assert.deepEqual(seen.levels.slice().sort((a, b) => a - b), [360, 720]);
    assert.equal(seen.audioTracks, 1);
    assert.deepEqual(seen.fatal, []);
    assert.ok(seen.t - t0 > 3, 'plays: ' + t0 + ' → ' + seen.t);
  } finally {
    await page.close();
    for (const p of pushers) p.kill('SIGKILL');
    s.child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a signed watch page plays under its prefix; unsigned playback is refused', { timeout: 90000 }, async () => {
  // A second hlsd (demo on) with a playback secret; `hlsd sign` makes the link.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hlsd-signed-'));
  const file = path.join(dir, 'hlsd.toml');
  fs.writeFileSync(file, fs.readFileSync(path.join(ROOT, 'config.toml'), 'utf8') +
    '\n[auth]\nplayback_secret = "browser-test-secret"\n');
  const s = startServer(log, ['--config', file]);
  const url = await s.url;
  const page = await context.newPage();
  try {
    const signed = execFileSync(binary(), ['sign', 'demo', '--ttl', '600', '--config', file]).toString().trim();
    assert.match(signed, /^\/s\/\d+-[0-9a-f]{64}\/live\/demo\/index\.m3u8$/);
    const prefix = signed.slice(0, signed.indexOf('/live/'));
    for (const p of ['/watch/demo', '/live/demo/index.m3u8']) {
      assert.equal((await fetch(url + p)).status, 401, p);
    }
    await page.goto(url + prefix + '/watch/demo');
    await page.waitForFunction(() => window.hlsdPlayer && window.hlsdPlayer.state === 'live', null, { timeout: 45000 });
    const t0 = await page.evaluate(() => document.getElementById('video').currentTime);
    await page.waitForTimeout(4000);
    const seen = await page.evaluate(() => ({
      t: document.getElementById('video').currentTime,
      src: window.hlsdPlayer.src,
      fatal: window.hlsdPlayer.fatalErrors,
    }));
    await page.screenshot({ path: path.join(ARTIFACTS, 'signed.png') });
    assert.equal(seen.src, prefix + '/live/demo/index.m3u8');
    assert.deepEqual(seen.fatal, []);
    assert.ok(seen.t - t0 > 2, 'plays: ' + t0 + ' → ' + seen.t);

    // A link that expires while it plays: the next playlist reload is 403 and the page says
    // so instead of retrying.
    const short = execFileSync(binary(), ['sign', 'demo', '--ttl', '5', '--config', file]).toString().trim();
    await page.goto(url + short.slice(0, short.indexOf('/live/')) + '/watch/demo');
    await page.waitForFunction(() => window.hlsdPlayer && window.hlsdPlayer.state === 'error', null, { timeout: 30000 });
    assert.match(await page.locator('#overlay-title').textContent(), /not valid/);
    const fatal = await page.evaluate(() => window.hlsdPlayer.fatalErrors.map((e) => e.code));
    assert.deepEqual(fatal, [403]);
  } finally {
    await page.close();
    s.child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
