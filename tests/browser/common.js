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

/** Starts hlsd and resolves with its base URL, read from "hlsd listening on http://ADDR". */
function startServer(log, extra = []) {
  const child = spawn(binary(), ['--listen', '127.0.0.1:0', ...extra], {
    env: { ...process.env, RUST_LOG: 'info', NO_COLOR: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const url = new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error('hlsd did not say where it listens')), 20000);
    child.stderr.on('data', (d) => {
      log.write(d);
      buf += d.toString();
      // eslint-disable-next-line no-control-regex
      const m = buf.replace(/\x1b\[[0-9;]*m/g, '').match(/hlsd listening on (http:\/\/\S+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error('hlsd exited with ' + code)); });
  });
  return { child, url };
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
