// What the Chromium tests share: the hlsd binary to run, starting it, and launching
// /usr/bin/chromium through playwright-core with the flags this machine needs.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { chromium } = require('playwright-core');

const ROOT = path.resolve(__dirname, '../..');
const TARGET = process.env.CARGO_TARGET_DIR || path.join(ROOT, 'target');
const ARTIFACTS = path.join(ROOT, 'target', 'browser-artifacts');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

/** HLSD_BIN, else target/release/hlsd or target/debug/hlsd, whichever is newer. */
function binary() {
  if (process.env.HLSD_BIN) return process.env.HLSD_BIN;
  const found = ['release', 'debug']
    .map((p) => path.join(TARGET, p, 'hlsd'))
    .filter((p) => fs.existsSync(p))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  if (!found.length) throw new Error('no hlsd binary under ' + TARGET + ': run cargo build first');
  return found[0];
}

/**
 * Starts hlsd. `url` resolves with its base URL, read from "hlsd listening on http://ADDR";
 * `listening(scheme)` with the address of another listener ("rtmp", "srt") read the same way.
 */
function startServer(log, extra = []) {
  const child = spawn(binary(), ['--listen', '127.0.0.1:0', ...extra], {
    env: { ...process.env, RUST_LOG: 'info', NO_COLOR: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let buf = '';
  child.stderr.on('data', (d) => {
    log.write(d);
    // eslint-disable-next-line no-control-regex
    if (buf.length < 1 << 16) buf += d.toString().replace(/\x1b\[[0-9;]*m/g, '');
  });
  const listening = (scheme) => new Promise((resolve, reject) => {
    const re = new RegExp('hlsd listening on (' + scheme + ':\\/\\/\\S+)');
    const found = () => { const m = buf.match(re); return m && m[1]; };
    const timer = setTimeout(() => done(new Error('hlsd did not say where it listens for ' + scheme)), 20000);
    const onData = () => { const m = found(); if (m) done(null, m); };
    const onExit = (code) => done(new Error('hlsd exited with ' + code));
    function done(err, m) {
      clearTimeout(timer);
      child.stderr.off('data', onData);
      child.off('exit', onExit);
      if (err) reject(err); else resolve(m);
    }
    child.stderr.on('data', onData);
    child.on('exit', onExit);
    onData();
  });
  return { child, url: listening('http'), listening };
}

/** Stops a started hlsd: SIGTERM, then SIGKILL if it has not exited within 8 s. */
async function stopServer(child) {
  if (!child || child.exitCode !== null || child.signalCode) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 8000))]);
  if (child.exitCode === null && !child.signalCode) child.kill('SIGKILL');
}

/**
 * A page of hlsd's origin (so playlists are same-origin, as on a real site's player) playing
 * `src` with hlsd's hls.js and `config`, muted and autoplaying in `<video id="v">`. In the
 * page: `window.hls`, `window.fatal` (fatal errors, "type details") and `window.loaded`
 * (every loaded fragment as { sn, part, url }). Resolves with the page and its page errors.
 */
async function hlsJsPage(context, base, src, config = {}) {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(base + '/healthz');
  await page.setContent('<!doctype html><html><body><video id="v" muted autoplay playsinline></video></body></html>');
  await page.addScriptTag({ url: base + '/static/vendor/hls.min.js' });
  await page.evaluate(([src, config]) => {
    window.fatal = [];
    window.loaded = [];
    const hls = new window.Hls(config);
    hls.on(window.Hls.Events.ERROR, (_, d) => { if (d.fatal) window.fatal.push(d.type + ' ' + d.details); });
    hls.on(window.Hls.Events.FRAG_LOADED, (_, d) => window.loaded.push(
      { sn: d.frag.sn, part: Boolean(d.part), url: d.part ? d.part.url : d.frag.url }));
    hls.loadSource(src);
    hls.attachMedia(document.getElementById('v'));
    window.hls = hls;
  }, [src, config]);
  return { page, errors };
}

/** Headless Chromium in a fresh profile directory. */
function launch(userDataDir) {
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required'],
  });
}

module.exports = { ROOT, ARTIFACTS, binary, startServer, stopServer, hlsJsPage, launch };
