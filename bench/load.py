#!/usr/bin/env python3
"""Load and attack clients for bench/hostile.sh: plain asyncio sockets, HTTP/1.1, 127.0.0.1.

Each mode runs for at most --seconds, then prints one JSON object (its counts and latencies)
on stdout. Modes:
  viewers   N viewers polling media playlists every --poll s and fetching each new segment
  checker   one feed's media playlist every --interval s: MSN sequence, discontinuities,
            session tokens, and every listed segment fetched once
  slowloris N connections sending a request head one header line per second, never ending it
  silent    N connections that send nothing
  flood     POSTs of a small MPEG-TS body to --path (with {n} counting up), by key kind
  postfile  POSTs of a whole file to --path (the frozen-clock publisher)
  healthz   GET /healthz on a fresh connection every --interval s
  parts     one feed's LL-HLS parts followed with blocking reloads: each part's arrival
            against its media time (the lateness above the smallest seen)
Every connection is reopened when the server closes it, until the deadline.
"""

import argparse
import asyncio
import json
import random
import re
import sys
import time
from collections import Counter

HOST = "127.0.0.1"
TIMEOUT = 10.0


def pct(values, q):
    if not values:
        return None
    v = sorted(values)
    return round(v[min(len(v) - 1, int(q * len(v)))] * 1000, 1)


def lat(values):
    """Latency summary in ms."""
    return {"n": len(values), "p50_ms": pct(values, 0.5), "p99_ms": pct(values, 0.99),
            "max_ms": round(max(values) * 1000, 1) if values else None}


def err_name(e):
    return type(e).__name__


class Conn:
    """One keep-alive HTTP/1.1 connection, reopened on demand."""

    def __init__(self, port):
        self.port = port
        self.r = self.w = None

    async def close(self):
        if self.w:
            self.w.close()
            try:
                await self.w.wait_closed()
            except Exception:
                pass
        self.r = self.w = None

    async def request(self, method, path, headers=(), body=b"", keep=False):
        """Returns (status, body bytes if keep else body length). Raises on socket errors."""
        if self.w is None:
            self.r, self.w = await asyncio.open_connection(HOST, self.port)
        head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n"
        for h in headers:
            head += h + "\r\n"
        if body or method in ("POST", "PUT"):
            head += f"Content-Length: {len(body)}\r\n"
        self.w.write(head.encode() + b"\r\n" + body)
        await self.w.drain()
        raw = await self.r.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdr = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                hdr[k.strip().lower()] = v.strip()
        chunks = []
        n = 0
        if method == "HEAD" or status in (204, 304):
            pass
        elif "content-length" in hdr:
            left = int(hdr["content-length"])
            while left:
                b = await self.r.read(min(left, 1 << 18))
                if not b:
                    raise ConnectionError("eof in body")
                left -= len(b)
                n += len(b)
                if keep:
                    chunks.append(b)
        elif hdr.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int((await self.r.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.r.readuntil(b"\r\n")
                    break
                b = await self.r.readexactly(size + 2)
                n += size
                if keep:
                    chunks.append(b[:-2])
        else:
            b = await self.r.read()
            n = len(b)
            chunks.append(b)
            await self.close()
        if hdr.get("connection", "").lower() == "close":
            await self.close()
        return status, (b"".join(chunks) if keep else n)


def parse_media(text):
    """(media_sequence, [(msn, uri, discontinuity_before)], endlist, discontinuity_sequence)."""
    seq = 0
    dseq = 0
    segs = []
    disc = False
    pending = False
    end = False
    for line in text.splitlines():
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            seq = int(line.split(":")[1])
        elif line.startswith("#EXT-X-DISCONTINUITY-SEQUENCE:"):
            dseq = int(line.split(":")[1])
        elif line == "#EXT-X-DISCONTINUITY":
            disc = True
        elif line.startswith("#EXTINF:"):
            pending = True
        elif line == "#EXT-X-ENDLIST":
            end = True
        elif line and not line.startswith("#") and pending:
            segs.append((seq + len(segs), line, disc))
            disc = False
            pending = False
    return seq, segs, end, dseq


def base_of(feed):
    return f"/live/{feed}/main/"


# ---------------------------------------------------------------------------- viewers

async def viewers(a):
    feeds = [a.victim] * a.victim_count + [
        f"{a.prefix}{i % a.n_feeds}" for i in range(a.count - a.victim_count)]
    st = {"status": Counter(), "errors": Counter(), "playlists": 0, "segments": 0, "bytes": 0,
          "victim_playlist_s": [], "victim_segment_s": [], "playlist_s": [], "segment_s": [],
          "behind": 0}
    deadline = time.monotonic() + a.seconds

    async def one(feed):
        await asyncio.sleep(random.uniform(0, min(5.0, a.poll * 2)))
        c = Conn(a.port)
        last = None
        victim = feed == a.victim
        while time.monotonic() < deadline:
            t_next = time.monotonic() + a.poll
            try:
                t = time.monotonic()
                s, body = await asyncio.wait_for(
                    c.request("GET", base_of(feed) + "media.m3u8", keep=True), TIMEOUT)
                dt = time.monotonic() - t
                st["status"][s] += 1
                (st["victim_playlist_s"] if victim else st["playlist_s"]).append(dt)
                if s == 200:
                    st["playlists"] += 1
                    _, segs, _, _ = parse_media(body.decode("latin-1"))
                    new = [x for x in segs if last is None or x[0] > last]
                    if last is None:
                        new = new[-1:]
                    elif segs and segs[0][0] > last + 1:
                        st["behind"] += 1  # the window moved past this viewer
                    for msn, uri, _ in new:
                        if time.monotonic() >= deadline:
                            break
                        t = time.monotonic()
                        s, n = await asyncio.wait_for(
                            c.request("GET", base_of(feed) + uri), TIMEOUT)
                        dt = time.monotonic() - t
                        st["status"][s] += 1
                        if s == 200:
                            st["segments"] += 1
                            st["bytes"] += n
                            (st["victim_segment_s"] if victim else st["segment_s"]).append(dt)
                        last = msn
            except Exception as e:  # a viewer carries on with a new connection
                st["errors"][err_name(e)] += 1
                await c.close()
            await asyncio.sleep(max(0.05, t_next - time.monotonic()))
        await c.close()

    t0 = time.monotonic()
    await asyncio.gather(*(one(f) for f in feeds))
    wall = time.monotonic() - t0
    out = {"mode": "viewers", "viewers": a.count, "victim_viewers": a.victim_count,
           "wall_s": round(wall, 1), "playlists": st["playlists"], "segments": st["segments"],
           "mbytes": round(st["bytes"] / 1e6, 1),
           "mbit_per_s": round(st["bytes"] * 8 / 1e6 / wall, 1),
           "status": dict(st["status"]), "errors": dict(st["errors"]),
           "fell_behind_window": st["behind"],
           "playlist_latency": lat(st["playlist_s"]), "segment_latency": lat(st["segment_s"]),
           "victim_playlist_latency": lat(st["victim_playlist_s"]),
           "victim_segment_latency": lat(st["victim_segment_s"])}
    return out


# ---------------------------------------------------------------------------- checker

async def checker(a):
    deadline = time.monotonic() + a.seconds
    c = Conn(a.port)
    seen = {}  # msn -> uri
    tokens = set()
    discs = []
    dseqs = set()
    gaps = []
    errors = Counter()
    statuses = Counter()
    poll_s = []
    fetches = {}  # msn -> (status, bytes, seconds) or error
    tasks = []
    last_msn = None
    last_ok = None
    first_msn = None
    endlist = False
    seq_back = 0

    async def fetch(msn, uri):
        fc = Conn(a.port)
        t = time.monotonic()
        try:
            s, n = await asyncio.wait_for(fc.request("GET", base_of(a.feed) + uri), TIMEOUT * 3)
            fetches[msn] = (s, n, time.monotonic() - t)
        except Exception as e:
            fetches[msn] = (err_name(e), 0, time.monotonic() - t)
        await fc.close()

    prev_seq = None
    while time.monotonic() < deadline:
        t_next = time.monotonic() + a.interval
        t = time.monotonic()
        try:
            s, body = await asyncio.wait_for(
                c.request("GET", base_of(a.feed) + "media.m3u8", keep=True), TIMEOUT)
            statuses[s] += 1
            poll_s.append(time.monotonic() - t)
            if s == 200:
                seq, segs, end, dseq = parse_media(body.decode("latin-1"))
                endlist = endlist or end
                dseqs.add(dseq)
                if prev_seq is not None and seq < prev_seq:
                    seq_back += 1
                prev_seq = seq
                for msn, uri, disc in segs:
                    m = re.match(r"seg-([^-]+)-", uri)
                    if m:
                        tokens.add(m.group(1))
                    if msn in seen:
                        if seen[msn] != uri:
                            errors["uri_changed"] += 1
                        continue
                    if disc:
                        discs.append(msn)
                    if first_msn is None:
                        first_msn = msn
                    elif last_msn is not None and msn > last_msn + 1 and not any(
                            m2 == last_msn + 1 for m2, _, _ in segs):
                        # not listed in this playlist nor in any earlier one
                        gaps.append({"after": last_msn, "next": msn,
                                     "since_last_ok_poll_s": round(time.monotonic() - last_ok, 1)})
                    seen[msn] = uri
                    if last_msn is None or msn > last_msn:
                        last_msn = msn
                    tasks.append(asyncio.ensure_future(fetch(msn, uri)))
                last_ok = time.monotonic()
        except Exception as e:
            errors[err_name(e)] += 1
            await c.close()
        await asyncio.sleep(max(0.0, t_next - time.monotonic()))
    await c.close()
    if tasks:
        await asyncio.wait(tasks, timeout=TIMEOUT * 3)
    fails = {m: v[0] for m, v in fetches.items() if v[0] != 200}
    seg_s = [v[2] for v in fetches.values() if v[0] == 200]
    msns = sorted(seen)
    missing = sorted(set(range(msns[0], msns[-1] + 1)) - set(msns)) if msns else []
    return {"mode": "checker", "feed": a.feed, "polls": sum(statuses.values()),
            "poll_status": dict(statuses), "poll_errors": dict(errors),
            "poll_latency": lat(poll_s), "first_msn": msns[0] if msns else None,
            "last_msn": msns[-1] if msns else None, "segments_seen": len(msns),
            "missing_msns": missing[:50], "missing_count": len(missing), "gaps": gaps[:20],
            "discontinuities_at": discs[:50], "discontinuity_sequences": sorted(dseqs),
            "session_tokens": len(tokens), "media_sequence_went_back": seq_back,
            "endlist": endlist, "segments_fetched_ok": len(seg_s),
            "segment_fetch_failures": {str(k): str(v) for k, v in list(fails.items())[:20]},
            "segment_fetch_failure_count": len(fails),
            "not_fetched": len(seen) - len(fetches), "segment_latency": lat(seg_s)}


# ---------------------------------------------------------------------------- parts

def parse_parts(text):
    """{(msn, part index): duration} of the parts a media playlist lists."""
    msn = 0
    idx = 0
    parts = {}
    pending = False
    for line in text.splitlines():
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            msn = int(line.split(":")[1])
        elif line.startswith("#EXT-X-PART:"):
            m = re.search(r"DURATION=([0-9.]+)", line)
            parts[(msn, idx)] = float(m.group(1)) if m else 0.0
            idx += 1
        elif line.startswith("#EXTINF:"):
            pending = True
        elif line and not line.startswith("#") and pending:
            msn += 1
            idx = 0
            pending = False
    return parts


async def parts(a):
    """Follows --feed's parts: each blocking reload asks for the part after the newest listed;
    a part answered is timed against the media time it ends at (the sum of the durations of
    the parts since the first one timed). Lateness is reported above the smallest seen, so
    the pusher's start and the part's own duration cancel out."""
    deadline = time.monotonic() + a.seconds
    c = Conn(a.port)
    seen = set()
    media = 0.0
    t0 = None
    lateness = []
    errors = Counter()
    path = base_of(a.feed) + "media.m3u8"
    want = None
    while time.monotonic() < deadline:
        try:
            q = f"?_HLS_msn={want[0]}&_HLS_part={want[1]}" if want else ""
            s, body = await asyncio.wait_for(c.request("GET", path + q, keep=True), TIMEOUT)
            t = time.monotonic()
            if s != 200:
                errors[f"status {s}"] += 1
                await asyncio.sleep(0.2)
                continue
            listed = parse_parts(body.decode("latin-1"))
            new = sorted(k for k in listed if k not in seen)
            for k in new:
                seen.add(k)
                if t0 is None:
                    continue
                media += listed[k]
                # The part that answered the blocking reload (later ones came before it).
                if want is not None and k == new[0]:
                    lateness.append(t - t0 - media)
            if t0 is None and listed:
                t0 = t
            if listed:
                last = max(listed)
                # The next part: the newest segment's parts are listed up to the newest.
                want = (last[0], last[1] + 1)
        except Exception as e:
            errors[err_name(e)] += 1
            await c.close()
            want = None
            t0 = None
            media = 0.0
    await c.close()
    low = min(lateness) if lateness else 0.0
    excess = [x - low for x in lateness]
    return {"mode": "parts", "feed": a.feed, "parts": len(lateness), "errors": dict(errors),
            "lateness": lat(excess)}


# ---------------------------------------------------------------------------- sockets

async def held_sockets(a, slow):
    deadline = time.monotonic() + a.seconds
    st = {"connects": 0, "connect_errors": Counter(), "closed_by_server": 0, "answers": Counter(),
          "close_s": [], "open_at_end": 0, "write_errors": 0}

    async def one():
        await asyncio.sleep(random.uniform(0, 2.0))
        while time.monotonic() < deadline:
            try:
                r, w = await asyncio.wait_for(asyncio.open_connection(HOST, a.port), TIMEOUT)
            except Exception as e:
                st["connect_errors"][err_name(e)] += 1
                await asyncio.sleep(1.0)
                continue
            st["connects"] += 1
            t0 = time.monotonic()

            async def trickle():
                if not slow:
                    return
                w.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                i = 0
                while True:
                    await asyncio.sleep(1.0)
                    w.write(f"X-Slow-{i}: {i}\r\n".encode())
                    await w.drain()
                    i += 1

            tr = asyncio.ensure_future(trickle())
            closed = False
            try:
                first = await asyncio.wait_for(r.read(4096), max(0.1, deadline - time.monotonic()))
                if first:
                    st["answers"][first.split(b"\r\n", 1)[0].decode("latin-1")[:40]] += 1
                    while await asyncio.wait_for(r.read(4096), 5.0):
                        pass
                closed = True
            except asyncio.TimeoutError:
                pass
            except (ConnectionError, OSError):
                closed = True
            if closed:
                st["closed_by_server"] += 1
                st["close_s"].append(time.monotonic() - t0)
            else:
                st["open_at_end"] += 1
            tr.cancel()
            try:
                await tr
            except (asyncio.CancelledError, ConnectionError, OSError):
                if tr.done() and not tr.cancelled() and tr.exception():
                    st["write_errors"] += 1
            w.close()

    await asyncio.gather(*(one() for _ in range(a.count)))
    return {"mode": "slowloris" if slow else "silent", "sockets": a.count,
            "connects": st["connects"], "connect_errors": dict(st["connect_errors"]),
            "closed_by_server": st["closed_by_server"], "server_answers": dict(st["answers"]),
            "open_at_end": st["open_at_end"], "time_to_close": lat(st["close_s"])}


# ---------------------------------------------------------------------------- posts

KEYS = {"nokey": lambda k: [], "wrongkey": lambda k: ["Authorization: Bearer wrong-" + k],
        "wrongquery": lambda k: [], "goodkey": lambda k: ["Authorization: Bearer " + k]}


async def flood(a):
    body = open(a.file, "rb").read(a.body_bytes) if a.file else b"\x47" + b"\xff" * 187
    kinds = a.kinds.split(",")
    deadline = time.monotonic() + a.seconds
    st = {k: Counter() for k in kinds}
    lats = []
    counter = [0]

    async def worker(w):
        gap = a.concurrency / a.rate
        await asyncio.sleep(random.uniform(0, gap))
        while time.monotonic() < deadline:
            t_next = time.monotonic() + gap
            n = counter[0]
            counter[0] += 1
            kind = kinds[n % len(kinds)]
            path = a.path.replace("{n}", str(n))
            if kind == "wrongquery":
                path += "?key=wrong"
            c = Conn(a.port)
            t = time.monotonic()
            try:
                s, _ = await asyncio.wait_for(
                    c.request("POST", path, KEYS[kind](a.key) + ["Connection: close",
                              "Content-Type: video/mp2t"], body), TIMEOUT)
                st[kind][str(s)] += 1
                lats.append(time.monotonic() - t)
            except Exception as e:
                st[kind][err_name(e)] += 1
            await c.close()
            await asyncio.sleep(max(0.0, t_next - time.monotonic()))

    await asyncio.gather(*(worker(i) for i in range(a.concurrency)))
    return {"mode": "flood", "label": a.label, "path": a.path, "requests": counter[0],
            "by_kind": {k: dict(v) for k, v in st.items()}, "latency": lat(lats)}


async def postfile(a):
    data = open(a.file, "rb").read()
    deadline = time.monotonic() + a.seconds
    st = Counter()
    n = 0
    while time.monotonic() < deadline:
        t_next = time.monotonic() + a.interval
        n += 1
        try:
            r, w = await asyncio.open_connection(HOST, a.port)
            head = (f"POST {a.path} HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Bearer {a.key}\r\n"
                    f"Content-Type: video/mp2t\r\nContent-Length: {len(data)}\r\n\r\n").encode()
            w.write(head)

            async def send():
                for i in range(0, len(data), 1 << 16):
                    w.write(data[i:i + (1 << 16)])
                    await w.drain()

            snd = asyncio.ensure_future(send())
            line = await asyncio.wait_for(r.readline(), 60)
            st[line.decode("latin-1").split(" ")[1] if line else "eof"] += 1
            snd.cancel()
            w.close()
        except Exception as e:
            st[err_name(e)] += 1
        await asyncio.sleep(max(0.0, t_next - time.monotonic()))
    return {"mode": "postfile", "label": a.label, "path": a.path, "posts": n,
            "bytes_each": len(data), "status": dict(st)}


async def healthz(a):
    deadline = time.monotonic() + a.seconds
    st = Counter()
    lats = []
    while time.monotonic() < deadline:
        t_next = time.monotonic() + a.interval
        c = Conn(a.port)
        t = time.monotonic()
        try:
            s, _ = await asyncio.wait_for(c.request("GET", "/healthz"), TIMEOUT)
            st[str(s)] += 1
            lats.append(time.monotonic() - t)
        except Exception as e:
            st[err_name(e)] += 1
        await c.close()
        await asyncio.sleep(max(0.0, t_next - time.monotonic()))
    return {"mode": "healthz", "status": dict(st), "latency": lat(lats)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["viewers", "checker", "slowloris", "silent", "flood",
                                    "postfile", "healthz", "parts"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--victim", default="victim")
    p.add_argument("--victim-count", type=int, default=0)
    p.add_argument("--prefix", default="pub")
    p.add_argument("--n-feeds", type=int, default=1)
    p.add_argument("--poll", type=float, default=2.0)
    p.add_argument("--feed", default="victim")
    p.add_argument("--interval", type=float, default=0.5)
    p.add_argument("--path", default="/ingest/flood-{n}")
    p.add_argument("--kinds", default="nokey,wrongkey")
    p.add_argument("--key", default="")
    p.add_argument("--rate", type=float, default=50.0)
    p.add_argument("--concurrency", type=int, default=10)
    p.add_argument("--file", default="")
    p.add_argument("--body-bytes", type=int, default=188 * 50)
    p.add_argument("--label", default="")
    a = p.parse_args()
    fn = {"viewers": viewers, "checker": checker, "flood": flood, "postfile": postfile,
          "healthz": healthz, "parts": parts, "slowloris": lambda a: held_sockets(a, True),
          "silent": lambda a: held_sockets(a, False)}[a.mode]
    out = asyncio.run(fn(a))
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
