// hls.js in headless Chromium plays the demo feed (H.264 + AAC) as fMP4 in low-latency mode:
// `index.fmp4.m3u8` turns fMP4 packaging on for the feed, hls.js loads the init (EXT-X-MAP)
// and `.m4s` parts, and `video.currentTime` advances for several seconds with no fatal
// error. Starts the hlsd binary (demo on) on a free port; HLSD_BIN picks the binary.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { ARTIFACTS, startServer, stopServer, hlsJsPage, launch } = require('./common');

let server, base, context, userDataDir, log;

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  log = fs.createWriteStream(path.join(ARTIFACTS, 'hlsd-fmp4.log'));
  const s = startServer(log);
  server = s.child;
  base = await s.url;
  userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hlsd-chromium-'));
  context = await launch(userDataDir);
});

after(async () => {
  if (context) await context.close();
  await stopServer(server);
  if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
  if (log) log.end();
});

test('hls.js plays the fMP4 LL-HLS playlist in low-latency mode', { timeout: 90000 }, async () => {
  const { page, errors } = await hlsJsPage(context, base, base + '/live/demo/index.fmp4.m3u8',
    { lowLatencyMode: true });
  await page.waitForFunction(() => document.getElementById('v').currentTime > 0.5 || window.fatal.length > 0,
    null, { timeout: 45000 });
  const t0 = await page.evaluate(() => document.getElementById('v').currentTime);
  const times = [];
  for (let i = 0; i < 6; i++) {
    await page.waitForTimeout(1000);
    times.push(await page.evaluate(() => document.getElementById('v').currentTime));
  }
  const state = await page.evaluate(() => ({
    fatal: window.fatal,
    loaded: window.loaded.map((f) => f.url),
    inits: performance.getEntriesByType('resource').map((e) => e.name).filter((u) => /\.mp4$/.test(u)),
    latency: window.hls.latency,
    lowLatency: window.hls.lowLatencyMode,
    level: window.hls.levels[window.hls.currentLevel] && window.hls.levels[window.hls.currentLevel].url[0],
  }));
  await page.screenshot({ path: path.join(ARTIFACTS, 'fmp4.png') });
  await page.close();
  console.log('currentTime', t0.toFixed(2), '→', times.map((t) => t.toFixed(2)).join(' '),
    '| latency', state.latency, '| loaded', state.loaded.slice(-4).join(' '));
  assert.deepEqual(state.fatal, []);
  assert.deepEqual(errors, []);
  assert.equal(state.lowLatency, true);
  assert.match(state.level, /\/media\.fmp4\.m3u8$/);
  assert.ok(state.inits.length > 0 && state.inits.every((u) => /\/init-[^/]+\.mp4$/.test(u)), 'inits: ' + state.inits);
  assert.ok(state.loaded.length > 0 && state.loaded.every((u) => /\.m4s$/.test(u)), 'fMP4 media: ' + state.loaded);
  assert.ok(state.loaded.some((u) => /\/part-[^/]+\.m4s$/.test(u)), 'parts loaded: ' + state.loaded);
  assert.ok(times[times.length - 1] - t0 > 4, 'currentTime advanced: ' + t0 + ' → ' + times);
  for (let i = 1; i < times.length; i++) assert.ok(times[i] > times[i - 1], 'advancing at every second');
});
