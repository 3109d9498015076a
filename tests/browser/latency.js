// Benchmark, not a test: hls.js live latency against hlsd's demo feed in headless Chromium,
// with hls.js's default configuration and with the web player's tuned one, for N seconds
// each (default 60). Run from the repository root after `cargo build --release`:
//
//   node tests/browser/latency.js [seconds]
//
// Prints, for each configuration, hls.latency (live edge + playlist age - currentTime) and
// the wall-clock latency from PROGRAM-DATE-TIME (now - hls.playingDate), sampled every
// second after a 10 s warm-up: median, p90, max, and stalls (waiting events).
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

const ROOT = path.resolve(__dirname, '../..');
const BIN = process.env.HLSD_BIN || path.join(process.env.CARGO_TARGET_DIR || path.join(ROOT, 'target'), 'release', 'hlsd');
const SECONDS = Number(process.argv[2] || 60);
const WARMUP = 10;

function start() {
  const child = spawn(BIN, ['--listen', '127.0.0.1:0'], { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stderr.on('data', (d) => {
      buf += d;
      const m = buf.match(/hlsd listening on (http:\/\/\S+)/);
      if (m) resolve({ child, base: m[1] });
    });
    child.on('exit', (c) => reject(new Error('hlsd exited ' + c)));
  });
}

function stats(xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(s.length * p))];
  return s.length ? `median ${q(0.5).toFixed(3)} s, p90 ${q(0.9).toFixed(3)} s, max ${s[s.length - 1].toFixed(3)} s (${s.length} samples)` : 'no samples';
}

async function measure(context, url, setup) {
  const page = await context.newPage();
  await page.goto(url);
  await page.evaluate(setup);
  const lat = [], wall = [], target = [];
  for (let t = 0; t < WARMUP + SECONDS; t++) {
    await page.waitForTimeout(1000);
    if (t < WARMUP) continue;
    const s = await page.evaluate(() => {
      const h = window.benchHls || (window.hlsdPlayer && window.hlsdPlayer.hls);
      const v = document.querySelector('video');
      return {
        latency: h ? h.latency : (window.hlsdPlayer ? window.hlsdPlayer.latency : NaN),
        wall: h && h.playingDate ? (Date.now() - h.playingDate.getTime()) / 1000 : (window.hlsdPlayer ? window.hlsdPlayer.wallLatency : NaN),
        stalls: window.benchStalls || 0,
        target: h ? h.targetLatency : NaN,
        t: v ? v.currentTime : NaN,
      };
    });
    lat.push(s.latency);
    target.push(s.target);
    wall.push(s.wall);
  }
  const stalls = await page.evaluate(() => window.benchStalls || 0);
  const stallTimes = await page.evaluate(() => (window.benchStallTimes || []).map((t) => t.toFixed(1) + ' s'));
  await page.close();
  return { lat, wall, stalls: stalls + (stallTimes.length ? ' (at ' + stallTimes.join(', ') + ' after load)' : ''), target };
}

(async () => {
  const { child, base } = await start();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hlsd-latency-'));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
  });
  try {
    await new Promise((r) => setTimeout(r, 4000)); // the demo feed's first segments
    const plain = await measure(context, base + '/', async () => {
      await new Promise((resolve, reject) => {
        const s = document.createElement('script');
        s.src = '/static/vendor/hls.min.js';
        s.onload = resolve;
        s.onerror = reject;
        document.head.appendChild(s);
      });
      document.body.innerHTML = '<video muted autoplay></video>';
      const v = document.querySelector('video');
      window.benchStalls = 0;
      window.benchStallTimes = [];
      v.addEventListener('waiting', () => { window.benchStalls++; window.benchStallTimes.push(performance.now() / 1000); });
      const hls = (window.benchHls = new window.Hls());
      hls.loadSource('/live/demo/index.m3u8');
      hls.attachMedia(v);
      v.play().catch(() => {});
    });
    console.log(`hls.js ${'default config'}: latency ${stats(plain.lat)}; wall-clock ${stats(plain.wall)}; stalls ${plain.stalls}; target ${stats(plain.target)}`);
    const tuned = await measure(context, base + '/watch/demo', () => {
      window.benchStalls = 0;
      window.benchStallTimes = [];
      document.querySelector('video').addEventListener('waiting', () => { window.benchStalls++; window.benchStallTimes.push(performance.now() / 1000); });
    });
    console.log(`web player (tuned):    latency ${stats(tuned.lat)}; wall-clock ${stats(tuned.wall)}; stalls ${tuned.stalls}; target ${stats(tuned.target)}`);
  } finally {
    await context.close();
    child.kill('SIGTERM');
  }
})().catch((e) => { console.error(e); process.exit(1); });
