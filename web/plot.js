// A tiny latency plot on a canvas: two series over a sliding time window, no libraries.
'use strict';
window.LatencyPlot = class LatencyPlot {
  constructor(canvas, windowMs = 60000) {
    this.canvas = canvas;
    this.windowMs = windowMs;
    this.samples = []; // {t, a, b}
  }

  add(a, b) {
    const t = performance.now();
    this.samples.push({ t, a, b });
    while (this.samples.length && this.samples[0].t < t - this.windowMs) this.samples.shift();
    this.draw();
  }

  draw() {
    const c = this.canvas, dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth || 320, h = c.clientHeight || 140;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
    }
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const css = getComputedStyle(document.documentElement);
    const color = (v) => css.getPropertyValue(v).trim();
    const vals = this.samples.flatMap((s) => [s.a, s.b]).filter((v) => Number.isFinite(v));
    // The scale grows in steps so the picture does not jump with every sample.
    const top = Math.max(1, ...vals);
    const max = [1, 2, 3, 5, 8, 10, 15, 20, 30, 60].find((m) => m >= top * 1.1) || Math.ceil(top);
    const left = 28, right = 6, tp = 6, bottom = 16;
    const pw = w - left - right, ph = h - tp - bottom;
    g.font = '10px ' + color('--mono');
    g.fillStyle = color('--muted');
    g.strokeStyle = color('--line');
    g.lineWidth = 1;
    const ticks = max <= 3 ? max * 2 : 4;
    for (let i = 0; i <= ticks; i++) {
      const v = (max * i) / ticks, y = tp + ph - (v / max) * ph;
      g.beginPath();
      g.moveTo(left, Math.round(y) + 0.5);
      g.lineTo(w - right, Math.round(y) + 0.5);
      g.stroke();
      g.textAlign = 'right';
      g.textBaseline = 'middle';
      g.fillText(v.toFixed(max <= 3 ? 1 : 0) + 's', left - 4, y);
    }
    g.textAlign = 'left';
    g.textBaseline = 'alphabetic';
    g.fillText('-60 s', left, h - 3);
    g.textAlign = 'right';
    g.fillText('now', w - right, h - 3);
    const now = performance.now();
    const x = (t) => left + pw - ((now - t) / this.windowMs) * pw;
    const y = (v) => tp + ph - (Math.min(v, max) / max) * ph;
    for (const [key, varName] of [['b', '--plot-b'], ['a', '--plot-a']]) {
      g.strokeStyle = color(varName);
      g.lineWidth = 1.75;
      g.beginPath();
      let pen = false;
      for (const s of this.samples) {
        const v = s[key];
        if (!Number.isFinite(v)) { pen = false; continue; }
        if (pen) g.lineTo(x(s.t), y(v)); else g.moveTo(x(s.t), y(v));
        pen = true;
      }
      g.stroke();
    }
  }
};
