// hls.js in headless Chromium, in low-latency mode, plays feeds published over SRT, over
// RTMP and by GStreamer's HTTP sink: hlsd with [srt] and [rtmp] listeners on free ports
// (read from its log), ffmpeg publishing a looped H.264 + AAC clip in real time over each
// (`-f mpegts srt://...` with a `#!::r=FEED,m=publish` stream ID, `-f flv
// rtmp://.../live/FEED`), and `gst-launch-1.0 ... ! souphttpclientsink` sending the clip
// looped 8 times as a stream in pieces (a PUT every ~80 ms); for each feed
// `video.currentTime` advances for several seconds with no fatal error and parts are
// loaded. Starts the hlsd binary; HLSD_BIN picks it.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { ARTIFACTS, startServer, stopServer, hlsJsPage, launch } = require('./common');

let server, base, srt, rtmp, context, dir, clip, longClip, log;
const publishers = [];

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  log = fs.createWriteStream(path.join(ARTIFACTS, 'hlsd-ingest.log'));
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hlsd-ingest-'));
  // 8 s, 25 fps, a keyframe every second, AAC at 44.1 kHz (FLV's rate), looped by ffmpeg.
  clip = path.join(dir, 'clip.ts');
  execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100', '-t', '8', '-c:v', 'libx264',
    '-preset', 'veryfast', '-g', '25', '-bf', '2', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-f', 'mpegts', clip]);
  // 64 s of it with continuous timestamps, for GStreamer, which does not loop a file.
  longClip = path.join(dir, 'long.ts');
  execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-stream_loop', '7', '-i', clip, '-c', 'copy',
    '-f', 'mpegts', longClip]);
  const config = path.join(dir, 'hlsd.toml');
  fs.writeFileSync(config, [
    '[hls]', 'segment_duration = 1.0', 'part_duration = 0.25',
    '[demo]', 'enabled = false',
    '[srt]', 'listen = "127.0.0.1:0"',
    '[rtmp]', 'listen = "127.0.0.1:0"', '',
  ].join('\n'));
  const s = startServer(log, ['--config', config]);
  server = s.child;
  base = await s.url;
  srt = new URL((await s.listening('srt')).replace('srt:', 'http:')).host;
  rtmp = new URL((await s.listening('rtmp')).replace('rtmp:', 'http:')).host;
  context = await launch(fs.mkdtempSync(path.join(dir, 'chromium-')));
});

after(async () => {
  for (const p of publishers) if (p.exitCode === null) p.kill('SIGKILL');
  if (context) await context.close();
  await stopServer(server);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  if (log) log.end();
});

/** ffmpeg sending the clip, looped in real time, to `url` as `format`. */
function publish(format, url) {
  const p = spawn('ffmpeg', ['-nostdin', '-v', 'error', '-re', '-stream_loop', '-1', '-i', clip,
    '-c', 'copy', '-f', format, url], { stdio: ['ignore', 'ignore', 'pipe'] });
  p.stderr.on('data', (d) => log.write(d));
  publishers.push(p);
  return p;
}

/** GStreamer's HTTP sink sending the long clip in real time to `url`, a PUT per batch. */
function publishGst(url) {
  const p = spawn('gst-launch-1.0', ['-q', 'filesrc', `location=${longClip}`, '!', 'tsparse',
    'set-timestamps=true', '!', 'clocksync', '!', 'souphttpclientsink', `location=${url}`],
  { stdio: ['ignore', 'ignore', 'pipe'] });
  p.stderr.on('data', (d) => log.write(d));
  publishers.push(p);
  return p;
}

/** hls.js (low-latency mode) plays `src`: currentTime advances with no fatal error. */
async function plays(src) {
  const { page, errors } = await hlsJsPage(context, base, src, { lowLatencyMode: true });
  await page.waitForFunction(() => document.getElementById('v').currentTime > 0.5 || window.fatal.length > 0,
    null, { timeout: 45000 });
  const t0 = await page.evaluate(() => document.getElementById('v').currentTime);
  await page.waitForTimeout(5000);
  const { t1, fatal, parts } = await page.evaluate(() => ({
    t1: document.getElementById('v').currentTime, fatal: window.fatal, parts: window.loaded.filter((f) => f.part).length,
  }));
  await page.close();
  assert.deepEqual(fatal, [], src);
  assert.deepEqual(errors, [], src);
  assert.ok(t1 - t0 > 3, `${src}: currentTime went from ${t0} to ${t1} in 5 s`);
  assert.ok(parts > 0, `${src}: no part loaded`);
}

/** Waits until the feed's multivariant playlist answers 200. */
async function live(feed) {
  for (let i = 0; i < 60; i++) {
    const r = await fetch(`${base}/live/${feed}/index.m3u8`);
    if (r.status === 200) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(feed + ' did not go live');
}

test('hls.js plays a feed published over SRT', { timeout: 90000 }, async () => {
  publish('mpegts', `srt://${srt}?streamid=#!::r=srtcam,m=publish&pkt_size=1316`);
  await live('srtcam');
  await plays(base + '/live/srtcam/index.m3u8');
});

test('hls.js plays a feed published over RTMP', { timeout: 90000 }, async () => {
  publish('flv', `rtmp://${rtmp}/live/rtmpcam`);
  await live('rtmpcam');
  await plays(base + '/live/rtmpcam/index.m3u8');
});

test('hls.js plays a feed published by GStreamer\'s souphttpclientsink', { timeout: 90000 }, async () => {
  publishGst(`${base}/ingest/gstcam`);
  await live('gstcam');
  await plays(base + '/live/gstcam/index.m3u8');
});
