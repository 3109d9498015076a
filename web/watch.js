// The watch page: plays ../live/{feed}/index.m3u8 (relative to the page) with hls.js in
// low-latency mode (or natively where there is no MSE, i.e. Safari on iOS), shows latency,
// buffer and level, recovers from errors by itself and says when the feed does not exist or
// has ended, or when a signed link is refused (expired or wrong: no retry).
// `window.hlsdPlayer` exposes the state for tests and the console.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const video = $('video');
  // The page is /watch/{feed}, or /s/{expires}-{sig}/watch/{feed} with signed playback: the
  // playlist is ../live/{feed}/index.m3u8 from either, so a signed page plays under its prefix.
  const feed = decodeURIComponent(location.pathname.split('/').pop() || '');
  const src = new URL('../live/' + encodeURIComponent(feed) + '/index.m3u8', location.href).pathname;
  const player = (window.hlsdPlayer = { feed, src, state: 'connecting', engine: '', fatalErrors: [], errors: [], played: false });
  const plot = new window.LatencyPlot($('plot'));
  const MAX_RETRY_MS = 15000;
  let hls = null;
  let retryMs = 1000;
  let retryTimer = 0;
  let pollTimer = 0;
  let lastMediaRecovery = 0;
  let waitingSince = 0;

  document.title = feed + ' · hlsd';
  $('feed-name').textContent = feed;
  $('playlist-link').href = src;

  function log(text, cls) {
    const li = document.createElement('li');
    li.textContent = new Date().toLocaleTimeString() + '  ' + text;
    if (cls) li.className = cls;
    $('log').prepend(li);
    while ($('log').children.length > 40) $('log').lastChild.remove();
  }

  // state: connecting | live | waiting | reconnecting | missing | ended | error
  function setState(state, title, text) {
    if (player.state !== state) log(state, ['missing', 'ended', 'error'].includes(state) ? 'bad' : '');
    player.state = state;
    $('state').className = 'badge ' + state;
    $('state').textContent = state === 'missing' ? 'not found' : state;
    $('overlay').hidden = !title;
    $('overlay-title').textContent = title || '';
    $('overlay-text').textContent = text || '';
  }

  function stop() {
    player.played = false;
    clearTimeout(retryTimer);
    clearTimeout(pollTimer);
    if (hls) { hls.destroy(); hls = null; }
    video.removeAttribute('src');
    video.load();
  }

  function retry(why) {
    stop();
    log('retrying in ' + (retryMs / 1000).toFixed(0) + ' s: ' + why, 'warn');
    retryTimer = setTimeout(start, retryMs);
    retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
  }

  function missing() {
    setState('missing', 'No feed named “' + feed + '”',
      'Nothing is being published under this name. This page keeps checking and plays it when it starts.');
  }

  // Signed playback: the link's signature is missing, wrong or expired. Retrying cannot help.
  function refused(code) {
    setState('error', code === 401 ? 'This feed needs a signed link' : 'This link is not valid',
      code === 401 ? 'Playback on this server needs a /s/… link from its operator.'
        : 'The link has expired or its signature is wrong: ask for a new one.');
  }

  // ENDLIST: the publisher stopped and its grace ran out. Watch for a new session.
  function ended() {
    if (player.state === 'ended') return;
    setState('ended', 'The feed has ended',
      'The publisher stopped (the playlist has EXT-X-ENDLIST). This page plays it again if it comes back.');
    if (hls) hls.stopLoad();
    pollForRestart();
  }

  async function pollForRestart() {
    clearTimeout(pollTimer);
    try {
      const res = await fetch(src, { cache: 'no-store' });
      if (res.ok) {
        const uri = (await res.text()).split('\n').map((l) => l.trim()).find((l) => l && !l.startsWith('#'));
        const media = uri && (await fetch(new URL(uri, location.origin + src), { cache: 'no-store' }));
        if (media && media.ok && !(await media.text()).includes('#EXT-X-ENDLIST')) {
          stop();
          setState('connecting', 'Connecting…', 'The feed is back.');
          start();
          return;
        }
      }
    } catch (e) { /* keep polling */ }
    pollTimer = setTimeout(pollForRestart, 5000);
  }

  function start() {
    clearTimeout(retryTimer);
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(feed)) {
      setState('missing', 'Not a feed name', 'Feed names are 1 to 64 letters, digits, “-” or “_”.');
      return;
    }
    if (window.Hls && window.Hls.isSupported()) startHls();
    else if (video.canPlayType('application/vnd.apple.mpegurl')) startNative();
    else setState('error', 'This browser cannot play HLS', 'It has neither Media Source Extensions nor native HLS.');
  }

  function startHls() {
    const Hls = window.Hls;
    player.engine = 'hls.js ' + Hls.version;
    $('engine').textContent = player.engine + ' · low-latency mode';
    hls = new Hls({
      lowLatencyMode: true,
      // hls.js speeds playback up only while more than 1 s is buffered, which a low-latency
      // stream never has, so it would stay wherever it started. This page catches up by
      // itself (syncRate below); 1 here keeps hls.js from resetting the rate.
      maxLiveSyncPlaybackRate: 1,
      // After a stall hls.js moves the target back by this much (1 s by default): a part or
      // so is enough when parts are listed the moment they are complete.
      liveSyncOnStallIncrease: 0.3,

      liveDurationInfinity: true,
      // A live edge is only a few seconds ahead; keep a little behind for seeking back.
      maxBufferLength: 8,
      backBufferLength: 30,
      enableWorker: true,
    });
    player.hls = hls;
    hls.on(Hls.Events.MANIFEST_PARSED, (_, data) => {
      log('manifest: ' + data.levels.length + ' level(s)');
      video.play().catch(() => setState('waiting', 'Press play', 'The browser blocked autoplay.'));
    });
    hls.on(Hls.Events.LEVEL_LOADED, (_, data) => {
      if (data.details.live === false) ended();
      // Hold PART-HOLD-BACK (three parts) behind the live edge, as the playlist asks, and
      // get there: hls.js itself would stay wherever it started (see syncRate).
      // Without parts, hls.js's own target (from HOLD-BACK) stays, and catching up needs a
      // second of buffer, as hls.js itself would ask.
      const part = data.details.partTarget;
      if (!hls.hlsdTargetSet && data.details.live) {
        if (part) hls.targetLatency = Math.max(0.5, 3 * part);
        hls.hlsdAhead = part || 1;
        hls.hlsdTargetSet = true;
      }
    });
    // A feed whose numbering jumped forward (it moved to another origin, which numbers by
    // the clock: `hls.clock_numbering`) shares no segment with the playlist before, and
    // hls.js places the new one at (MSN difference × target duration) seconds ahead: far
    // beyond playback, where it would wait for ever. Go to the new live edge instead.
    hls.on(Hls.Events.LEVEL_UPDATED, (_, data) => {
      const d = data.details;
      if (!player.played || !d || !d.live || !d.fragments.length) return;
      if (video.currentTime >= d.fragmentStart) return;
      if (bufferAhead() > 0.5 || !Number.isFinite(hls.liveSyncPosition)) return;
      log('the playlist moved past playback (the feed moved to another server?): to the live edge', 'warn');
      video.currentTime = hls.liveSyncPosition;
    });
    hls.on(Hls.Events.LEVEL_SWITCHED, (_, data) => log('level ' + data.level));
    hls.on(Hls.Events.ERROR, (_, data) => onError(data));
    hls.loadSource(src);
    hls.attachMedia(video);
  }

  function onError(data) {
    const Hls = window.Hls;
    const code = data.response && data.response.code;
    const entry = { type: data.type, details: data.details, fatal: data.fatal, code, at: Date.now() };
    player.errors.push(entry);
    if (player.errors.length > 100) player.errors.shift();
    if (!data.fatal) {
      if (data.details !== Hls.ErrorDetails.BUFFER_STALLED_ERROR) log(data.details + (code ? ' ' + code : ''), 'warn');
      return;
    }
    player.fatalErrors.push(entry);
    log('fatal: ' + data.details + (code ? ' (' + code + ')' : ''), 'bad');
    if ((code === 401 || code === 403) && data.type === Hls.ErrorTypes.NETWORK_ERROR) {
      stop();
      return refused(code);
    }
    if (code === 404 && data.type === Hls.ErrorTypes.NETWORK_ERROR) {
      missing();
      return retry('not found');
    }
    if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
      const now = Date.now();
      if (now - lastMediaRecovery > 5000) {
        lastMediaRecovery = now;
        hls.recoverMediaError();
        return;
      }
      return retry('media error again: ' + data.details);
    }
    if (data.type === Hls.ErrorTypes.NETWORK_ERROR) {
      setState('reconnecting', 'Reconnecting…', 'The server did not answer (' + data.details + ').');
    }
    retry(data.details);
  }

  async function startNative() {
    player.engine = 'native HLS';
    $('engine').textContent = player.engine;
    try {
      const res = await fetch(src, { cache: 'no-store' });
      if (res.status === 404) { missing(); return retry('not found'); }
      if (res.status === 401 || res.status === 403) return refused(res.status);
    } catch (e) {
      setState('reconnecting', 'Reconnecting…', 'The server did not answer.');
      return retry('unreachable');
    }
    video.src = src;
    video.play().catch(() => setState('waiting', 'Press play', 'The browser blocked autoplay.'));
  }

  video.addEventListener('error', () => {
    if (hls || player.state === 'ended') return; // hls.js reports its own errors
    player.fatalErrors.push({ type: 'native', details: String(video.error && video.error.message), at: Date.now() });
    retry('native playback error');
  });
  video.addEventListener('ended', () => { if (!hls) ended(); });
  video.addEventListener('playing', () => {
    player.played = true;
    waitingSince = 0;
    retryMs = 1000;
    if (player.state !== 'ended') setState('live');
  });
  video.addEventListener('waiting', () => { waitingSince = waitingSince || Date.now(); });

  const secs = (v) => (Number.isFinite(v) ? v.toFixed(2) + ' s' : '–');

  function bufferAhead() {
    const b = video.buffered, t = video.currentTime;
    for (let i = 0; i < b.length; i++) if (b.start(i) <= t + 0.1 && t <= b.end(i)) return b.end(i) - t;
    return 0;
  }

  function level() {
    const size = video.videoWidth ? video.videoWidth + '×' + video.videoHeight : '';
    const l = hls && hls.levels && hls.levels[hls.currentLevel];
    if (!l) return size || '–';
    const name = l.name || String(l.url || '').split('/').slice(-2, -1)[0] || String(hls.currentLevel);
    return [name, size, l.bitrate ? Math.round(l.bitrate / 1000) + ' kb/s' : ''].filter(Boolean).join(' · ');
  }

  // Catch up on the target latency by playing 10 % faster rather than by seeking, which
  // would stutter, and only while more than a part (without parts: a second) is buffered
  // ahead, so that playing faster does not run into a stall (after one, hls.js moves the
  // target back).
  function syncRate() {
    if (!hls || !hls.hlsdTargetSet || video.paused) return;
    const over = hls.latency - hls.targetLatency;
    const rate = over > 0.1 && bufferAhead() > hls.hlsdAhead ? 1.1 : 1;
    if (video.playbackRate !== rate) video.playbackRate = rate;
  }
  video.addEventListener('timeupdate', syncRate);

  function tick() {
    let latency = NaN, wall = NaN, target = NaN;
    if (hls) {
      latency = hls.latency;
      target = hls.targetLatency;
      if (hls.playingDate) wall = (Date.now() - hls.playingDate.getTime()) / 1000;
    } else if (video.seekable.length) {
      latency = video.seekable.end(video.seekable.length - 1) - video.currentTime;
      const start = video.getStartDate && video.getStartDate();
      if (start && !isNaN(start.getTime())) wall = (Date.now() - start.getTime()) / 1000 - video.currentTime;
    }
    const playing = player.state === 'live' || player.state === 'waiting';
    if (!playing || video.paused) { latency = NaN; wall = NaN; }
    $('s-latency').textContent = secs(latency);
    $('s-wall').textContent = secs(wall);
    $('s-target').textContent = secs(target);
    $('s-buffer').textContent = secs(bufferAhead());
    $('s-level').textContent = level();
    $('s-rate').textContent = video.playbackRate.toFixed(2) + '×';
    const q = video.getVideoPlaybackQuality && video.getVideoPlaybackQuality();
    if (q) $('s-dropped').textContent = q.droppedVideoFrames + ' / ' + q.totalVideoFrames;
    player.latency = latency;
    player.wallLatency = wall;
    plot.add(latency, wall);
    if (waitingSince && player.state === 'live' && Date.now() - waitingSince > 4000) {
      setState('waiting', 'Waiting for the publisher…', 'No new media for a few seconds; playback resumes when it comes.');
    }
  }

  plot.draw();
  setInterval(tick, 500);
  start();
})();
