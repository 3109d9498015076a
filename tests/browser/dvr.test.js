// hls.js in headless Chromium seeks back into the DVR part of a live playlist: two hlsd, each
// with [record] and hls.dvr_window = 60 (window of 3 one-second segments), the demo feed
// publishing in real time, one packaging MPEG-TS and one fMP4 (`container = "fmp4"`: .m4s
// segments under EXT-X-MAP, inits and segments that left memory read from the recording);
// once a playlist reaches ~20 s back, hls.js seeks to the start of its seekable range, loads
// segments that left the window (served from the recording) and plays on from there with no
// fatal error; and plays the TS session's recording (/vod) from its first segment while it
// is recorded. Starts the hlsd binary; HLSD_BIN picks it.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { ARTIFACTS, startServer, stopServer, hlsJsPage, launch } = require('./common');

let context, userDataDir, dataDir, log;
/** container → { child, base } */
const servers = {};

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  log = fs.createWriteStream(path.join(ARTIFACTS, 'hlsd-dvr.log'));
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hlsd-dvr-'));
  for (const container of ['ts', 'fmp4']) {
    const config = path.join(dataDir, `hlsd-${container}.toml`);
    fs.writeFileSync(config, [
      '[hls]', 'segment_duration = 1.0', 'window = 3', 'dvr_window = 60', `container = "${container}"`,
      '[demo]', 'enabled = true',
      '[record]', `dir = "${path.join(dataDir, 'rec-' + container)}"`, '',
    ].join('\n'));
    const s = startServer(log, ['--config', config]);
    servers[container] = { child: s.child, base: await s.url };
  }
  userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hlsd-chromium-'));
  context = await launch(userDataDir);
});

after(async () => {
  if (context) await context.close();
  for (const s of Object.values(servers)) await stopServer(s.child);
  if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  if (log) log.end();
});

/** The demo's media playlist at `base` once it lists at least `n` segments. */
async function playlistWith(base, n) {
  const url = base + '/live/demo/main/media.m3u8';
  for (let i = 0; i < 120; i++) {
    const r = await fetch(url);
    if (r.status === 200) {
      const text = await r.text();
      if ((text.match(/#EXTINF/g) || []).length >= n) return text;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error('the DVR playlist did not grow to ' + n + ' segments');
}

async function seeksBack(container) {
  const { base } = servers[container];
  const text = await playlistWith(base, 20);
  const segment = container === 'fmp4' ? /\.m4s$/ : /\.ts$/;
  assert.match(text.split('\n').find((l) => l && !l.startsWith('#')), segment, text);
  const firstMsn = Number(text.match(/#EXT-X-MEDIA-SEQUENCE:(\d+)/)[1]);
  const { page, errors } = await hlsJsPage(context, base, base + '/live/demo/index.m3u8',
    { lowLatencyMode: true });
  await page.waitForFunction(() => document.getElementById('v').currentTime > 0.5 || window.fatal.length > 0,
    null, { timeout: 45000 });
  const live = await page.evaluate(() => {
    const v = document.getElementById('v');
    return { t: v.currentTime, start: v.seekable.start(0), end: v.seekable.end(0) };
  });
  // Back to the oldest seconds the playlist offers.
  await page.evaluate((t) => { document.getElementById('v').currentTime = t; }, live.start + 1);
  await page.waitForFunction((t) => {
    const v = document.getElementById('v');
    return (v.currentTime > t + 2 && !v.seeking) || window.fatal.length > 0;
  }, live.start + 1, { timeout: 45000 });
  const state = await page.evaluate(() => ({
    t: document.getElementById('v').currentTime,
    fatal: window.fatal,
    frags: window.loaded.filter((f) => !f.part).map((f) => f.sn),
    urls: window.loaded.filter((f) => !f.part).map((f) => f.url),
  }));
  await page.screenshot({ path: path.join(ARTIFACTS, `dvr-${container}.png`) });
  await page.close();
  console.log(container, 'seekable', live.start.toFixed(2), '–', live.end.toFixed(2), '| live at', live.t.toFixed(2),
    '| after the seek', state.t.toFixed(2), '| segments loaded', state.frags.join(' '),
    '| first MSN listed when asked', firstMsn);
  assert.deepEqual(state.fatal, []);
  assert.deepEqual(errors, []);
  assert.ok(live.end - live.start > 15, 'seekable range ' + live.start + '–' + live.end);
  assert.ok(state.t < live.t, 'playing behind the live position after the seek');
  // Segments from the DVR prefix: among the first 10 of the 20+ listed when the player
  // started, long out of the 3-segment window.
  assert.ok(state.frags.some((sn) => sn <= firstMsn + 10), 'DVR segments loaded: ' + state.frags);
  assert.ok(state.urls.every((u) => segment.test(u)), 'segments: ' + state.urls);
}

for (const container of ['ts', 'fmp4']) {
  test(`hls.js seeks back into the DVR window and plays segments from the recording (${container})`,
    { timeout: 120000 }, () => seeksBack(container));
}

test('hls.js plays the recording of the session being recorded from its start (/vod)', { timeout: 120000 }, async () => {
  const { base } = servers.ts;
  await playlistWith(base, 8);
  const list = await (await fetch(base + '/api/feeds/demo/recordings')).json();
  assert.ok(list.recordings.length >= 1, JSON.stringify(list));
  const rec = list.recordings[list.recordings.length - 1];
  const media = await (await fetch(base + rec.url.replace('index.m3u8', 'main/media.m3u8'))).text();
  const firstMsn = Number(media.match(/#EXT-X-MEDIA-SEQUENCE:(\d+)/)[1]);
  const { page, errors } = await hlsJsPage(context, base, base + rec.url, { startPosition: 0 });
  await page.waitForFunction(() => document.getElementById('v').currentTime > 3 || window.fatal.length > 0,
    null, { timeout: 45000 });
  const state = await page.evaluate(() => ({
    t: document.getElementById('v').currentTime,
    fatal: window.fatal,
    frags: window.loaded.map((f) => f.sn),
  }));
  await page.close();
  console.log('recording', rec.url, '| first MSN', firstMsn, '| played to', state.t.toFixed(2),
    '| segments loaded', state.frags.join(' '));
  assert.deepEqual(state.fatal, []);
  assert.deepEqual(errors, []);
  assert.ok(state.t > 3, 'played ' + state.t);
  assert.equal(state.frags[0], firstMsn, 'started at the first recorded segment');
});
