// Shaka Player and video.js play the demo feed (H.264 + AAC) as fMP4 in their low-latency modes, in
// headless Chromium: `index.fmp4.m3u8`, its init (EXT-X-MAP) and `.m4s` parts. The test
// fails on any player error, or if `currentTime` does not advance at every second for six
// seconds. Starts the hlsd binary (demo on) on a free port; HLSD_BIN picks the binary.
//
// video.js 8.24 (VHS) plays it in its low-latency mode too. At every segment end VHS asks
// again for the part it has (`_HLS_msn=M&_HLS_part=<last>`, its merged copy of the playlist
// keeps the previous segment's parts); blocking answers are therefore cacheable by shared
// caches only (`max-age=0, s-maxage=6×TD`), so the repeat reaches hlsd and gets the newer
// playlist instead of the browser's cached copy.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { ARTIFACTS, startServer, stopServer, launch } = require('./common');

let server, base, context, userDataDir, log;

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  log = fs.createWriteStream(path.join(ARTIFACTS, 'hlsd-fmp4-players.log'));
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

/** Waits for playback, then samples `currentTime()` in the page once a second, six times. */
async function playing(page, currentTime) {
  await page.waitForFunction(`(${currentTime})() > 0.5 || window.playerErrors.length > 0`,
    null, { timeout: 45000 });
  const t0 = await page.evaluate(`(${currentTime})()`);
  const times = [];
  for (let i = 0; i < 6; i++) {
    await page.waitForTimeout(1000);
    times.push(await page.evaluate(`(${currentTime})()`));
  }
  return { t0, times };
}

/** The fMP4 resources the page fetched from hlsd: inits and parts. */
function fetched(page) {
  return page.evaluate(() => {
    const names = performance.getEntriesByType('resource').map((e) => e.name);
    return {
      inits: names.filter((u) => /\/init-[^/]+\.mp4$/.test(u)),
      parts: names.filter((u) => /\/part-[^/]+\.m4s/.test(u)),
      ts: names.filter((u) => /\.ts(\?|$)/.test(u)),
    };
  });
}

function check(name, { t0, times }, state, res, errors) {
  console.log(name, '| currentTime', t0.toFixed(2), '→', times.map((t) => t.toFixed(2)).join(' '),
    '| inits', res.inits.length, '| parts', res.parts.length, '| last', res.parts.slice(-2).join(' '));
  assert.deepEqual(state.errors, []);
  assert.deepEqual(errors, []);
  assert.ok(res.inits.length > 0, 'an init fetched');
  assert.ok(res.parts.length > 0, 'LL-HLS parts fetched');
  assert.deepEqual(res.ts, [], 'no TS fetched');
  assert.ok(times[times.length - 1] - t0 > 4, 'currentTime advanced: ' + t0 + ' → ' + times);
  for (let i = 1; i < times.length; i++) assert.ok(times[i] > times[i - 1], 'advancing at every second: ' + times);
}

test('Shaka Player plays the fMP4 LL-HLS playlist in low-latency mode', { timeout: 90000 }, async () => {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(base + '/healthz');
  await page.setContent('<!doctype html><html><body><video id="v" muted autoplay playsinline></video></body></html>');
  await page.addScriptTag({ path: require.resolve('shaka-player/dist/shaka-player.compiled.js') });
  const version = await page.evaluate(async (src) => {
    window.playerErrors = [];
    window.shaka.polyfill.installAll();
    const video = document.getElementById('v');
    const player = new window.shaka.Player();
    await player.attach(video);
    player.configure({ streaming: { lowLatencyMode: true } });
    // Every error Shaka reports, recoverable or not.
    player.addEventListener('error', (e) => window.playerErrors.push(JSON.stringify(e.detail)));
    window.player = player;
    try {
      await player.load(src);
    } catch (e) {
      window.playerErrors.push('load: ' + JSON.stringify(e));
    }
    video.play().catch(() => {});
    return window.shaka.Player.version;
  }, base + '/live/demo/index.fmp4.m3u8');
  const run = await playing(page, () => document.getElementById('v').currentTime);
  const state = await page.evaluate(() => ({
    errors: window.playerErrors,
    lowLatency: window.player.getConfiguration().streaming.lowLatencyMode,
    live: window.player.isLive(),
  }));
  const res = await fetched(page);
  await page.screenshot({ path: path.join(ARTIFACTS, 'shaka-fmp4.png') });
  await page.close();
  check('Shaka ' + version, run, state, res, errors);
  assert.equal(state.lowLatency, true);
  assert.equal(state.live, true);
});

test('video.js (VHS) plays the fMP4 LL-HLS playlist in low-latency mode', { timeout: 90000 }, async () => {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(base + '/healthz');
  await page.setContent('<!doctype html><html><body>' +
    '<video-js id="v" muted autoplay playsinline width="640" height="360"></video-js></body></html>');
  await page.addScriptTag({ path: require.resolve('video.js/dist/video.min.js') });
  const version = await page.evaluate((src) => {
    window.playerErrors = [];
    const player = window.videojs('v', { html5: { vhs: { llhls: true, overrideNative: true } } });
    player.on('error', () => window.playerErrors.push(JSON.stringify(player.error())));
    player.src({ src, type: 'application/x-mpegURL' });
    player.play().catch(() => {});
    window.player = player;
    return window.videojs.VERSION;
  }, base + '/live/demo/index.fmp4.m3u8');
  const run = await playing(page, () => window.player.currentTime());
  const state = await page.evaluate(() => ({
    errors: window.playerErrors,
    llhls: window.player.tech(true).vhs && window.player.tech(true).vhs.options_.llhls,
    blocking: performance.getEntriesByType('resource').map((e) => e.name)
      .filter((u) => /_HLS_msn=/.test(u)).length,
  }));
  const res = await fetched(page);
  await page.screenshot({ path: path.join(ARTIFACTS, 'videojs-fmp4.png') });
  await page.close();
  check('video.js ' + version + ' | blocking reloads ' + state.blocking, run, state, res, errors);
  assert.equal(state.llhls, true);
  assert.ok(state.blocking > 10, 'blocking reloads made: ' + state.blocking);
});
