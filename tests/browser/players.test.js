// Other players than the web page's hls.js, in headless Chromium (playwright-core driving
// /usr/bin/chromium): video.js 8 with its HTTP streaming engine (VHS) plays the demo feed's
// TS playlist (the shipped configuration: LL-HLS on). Starts the hlsd binary (demo on) on a
// free port; HLSD_BIN picks the binary.
//
// VHS's low-latency mode (`llhls`) is not tested on TS: it now starts on an independent part
// (the media playlist no longer claims EXT-X-INDEPENDENT-SEGMENTS while it lists dependent
// parts), but then requests that part again and again. A TS part carries the audio PES the
// encoder interleaved with its video, and ffmpeg's audio PES (~0.34 s) straddle 0.28 s parts,
// so the audio buffered from the first part ends before the time VHS starts playback at, and
// VHS keeps fetching the part for that time instead of the next one. hls.js copes; fMP4
// parts, whose tracks are cut at the same media time, are where VHS's LL mode gets checked.
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
  log = fs.createWriteStream(path.join(ARTIFACTS, 'hlsd-players.log'));
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

test('video.js (VHS) plays the TS feed', { timeout: 90000 }, async () => {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const consoleLines = [];
  page.on('console', (m) => consoleLines.push(m.type() + ': ' + m.text()));
  // A page of hlsd's origin, so the playlist is same-origin like on a real site's player.
  await page.goto(base + '/healthz');
  await page.setContent('<!doctype html><html><body>' +
    '<video-js id="v" muted autoplay playsinline width="640" height="360"></video-js></body></html>');
  await page.addStyleTag({ path: require.resolve('video.js/dist/video-js.min.css') });
  await page.addScriptTag({ path: require.resolve('video.js/dist/video.min.js') });
  const version = await page.evaluate((src) => {
    window.playerErrors = [];
    const player = window.videojs('v', {
      html5: { vhs: { llhls: false, overrideNative: true } },
    });
    player.on('error', () => window.playerErrors.push(JSON.stringify(player.error())));
    player.src({ src, type: 'application/x-mpegURL' });
    player.play().catch(() => {});
    window.player = player;
    return window.videojs.VERSION;
  }, base + '/live/demo/index.m3u8');
  await page.waitForFunction(() => window.player.currentTime() > 0.5 || window.playerErrors.length > 0,
    null, { timeout: 45000 });
  const t0 = await page.evaluate(() => window.player.currentTime());
  const times = [];
  for (let i = 0; i < 6; i++) {
    await page.waitForTimeout(1000);
    times.push(await page.evaluate(() => window.player.currentTime()));
  }
  const state = await page.evaluate(() => ({
    errors: window.playerErrors,
    llhls: window.player.tech(true).vhs && window.player.tech(true).vhs.options_.llhls,
    media: window.player.tech(true).vhs && window.player.tech(true).vhs.playlists.media().uri,
  }));
  await page.screenshot({ path: path.join(ARTIFACTS, 'videojs.png') });
  await page.close();
  console.log('video.js', version, '| llhls', state.llhls, '| media', state.media,
    '| currentTime', t0.toFixed(2), '→', times.map((t) => t.toFixed(2)).join(' '));
  if (state.errors.length) console.log(consoleLines.slice(-30).join('\n'));
  assert.deepEqual(state.errors, []);
  assert.deepEqual(errors, []);
  assert.equal(state.llhls, false);
  assert.ok(times[times.length - 1] - t0 > 4, 'currentTime advanced: ' + t0 + ' → ' + times);
});
