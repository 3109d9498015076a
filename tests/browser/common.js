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

module.exports = { ROOT, ARTIFACTS, binary, startServer, launch };
