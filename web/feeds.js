// The feed list: polls /api/feeds and renders a table; clicking a row opens /watch/{feed}.
'use strict';
(() => {
  const REFRESH_MS = 2000;
  const table = document.getElementById('feeds');
  const body = table.querySelector('tbody');
  const empty = document.getElementById('empty');
  const status = document.getElementById('refresh');
  const NAME = /^[A-Za-z0-9_-]{1,64}$/;

  for (const el of document.querySelectorAll('.origin')) el.textContent = location.origin;

  document.getElementById('open').addEventListener('submit', (e) => {
    e.preventDefault();
    const name = document.getElementById('open-name').value.trim();
    if (NAME.test(name)) location.href = '/watch/' + encodeURIComponent(name);
  });

  const td = (text, cls) => {
    const cell = document.createElement('td');
    if (cls) cell.className = cls;
    cell.textContent = text;
    return cell;
  };
  const bitrate = (bps) => !bps ? '–' : bps >= 1e6 ? (bps / 1e6).toFixed(2) + ' Mb/s'
    : Math.round(bps / 1e3) + ' kb/s';
  const uptime = (s) => {
    if (typeof s !== 'number' || !isFinite(s)) return '–';
    s = Math.floor(s);
    const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, sec = s % 60;
    return (h ? h + 'h ' : '') + (h || m ? m + 'm ' : '') + sec + 's';
  };
  const uniq = (xs) => [...new Set(xs.filter(Boolean))].join(', ') || '–';

  function row(feed) {
    const tr = document.createElement('tr');
    const href = '/watch/' + encodeURIComponent(feed.name);
    const name = td('', 'name');
    const a = document.createElement('a');
    a.href = href;
    a.textContent = feed.name;
    name.append(a);
    const state = document.createElement('td');
    const badge = document.createElement('span');
    badge.className = 'badge ' + String(feed.state || '');
    badge.textContent = feed.state || 'unknown';
    state.append(badge);
    const r = Array.isArray(feed.renditions) ? feed.renditions : [];
    const bps = r.reduce((sum, x) => Math.max(sum, Number(x.bandwidth) || 0), 0);
    tr.append(name, state, td(uniq(r.map((x) => x.resolution))), td(uniq(r.map((x) => x.codecs))),
      td(bitrate(bps), 'num'), td(uptime(feed.uptime_s), 'num'));
    tr.addEventListener('click', (e) => { if (e.target.tagName !== 'A') location.href = href; });
    return tr;
  }

  function showEmpty(title, html) {
    table.hidden = true;
    empty.hidden = false;
    document.getElementById('empty-title').textContent = title;
    if (html !== undefined) document.getElementById('empty-text').innerHTML = html;
  }

  async function refresh() {
    try {
      const res = await fetch('/api/feeds', { cache: 'no-store', headers: { Accept: 'application/json' } });
      if (!res.ok) {
        showEmpty('No feed list', 'This server does not list its feeds (<code>/api/feeds</code> answered ' +
          res.status + '). Open a feed by name above, for example <a href="/watch/demo">demo</a>.');
        status.textContent = 'feed list unavailable';
        return;
      }
      const data = await res.json();
      const feeds = (Array.isArray(data) ? data : data && data.feeds) || [];
      feeds.sort((a, b) => String(a.name).localeCompare(String(b.name)));
      if (!feeds.length) {
        showEmpty('No live feeds', 'Nothing is being published right now. Push MPEG-TS to ' +
          '<code>/ingest/<var>name</var></code> and it appears here.');
      } else {
        body.replaceChildren(...feeds.filter((f) => NAME.test(String(f.name))).map(row));
        table.hidden = false;
        empty.hidden = true;
      }
      status.textContent = feeds.length + (feeds.length === 1 ? ' feed' : ' feeds') + ' · updated ' +
        new Date().toLocaleTimeString();
    } catch (e) {
      status.textContent = 'server unreachable';
      showEmpty('Server unreachable', 'Retrying every few seconds…');
    }
  }

  refresh();
  setInterval(refresh, REFRESH_MS);
})();
