#!/usr/bin/env python3
"""Listens on 127.0.0.1:PORT for one HTTP/1.1 POST (or PUT), reads its body for at most
SECONDS and prints the sizes of its HTTP chunks (chunked) or of its reads (Content-Length)
as JSON: count, bytes, and the most common sizes. Used by bench/ingest.sh to measure what
an encoder's chunks look like.

    bench/chunk_sizes.py PORT SECONDS
"""

import json
import socket
import sys
import time
from collections import Counter


def main():
    port, seconds = int(sys.argv[1]), float(sys.argv[2])
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(1)
    conn, _ = srv.accept()
    deadline = time.monotonic() + seconds
    buf = b""

    def more():
        nonlocal buf
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        conn.settimeout(left)
        data = conn.recv(1 << 20)
        if not data:
            raise EOFError
        buf += data

    sizes = Counter()
    head = ""
    try:
        while b"\r\n\r\n" not in buf:
            more()
        raw, buf = buf.split(b"\r\n\r\n", 1)
        head = raw.decode("latin-1")
        if "chunked" in head.lower():
            while True:
                while b"\r\n" not in buf:
                    more()
                line, rest = buf.split(b"\r\n", 1)
                size = int(line.split(b";")[0], 16)
                while len(rest) < size + 2:
                    more()
                    line, rest = buf.split(b"\r\n", 1)
                buf = rest[size + 2:]
                if size == 0:
                    break
                sizes[size] += 1
        else:
            if buf:
                sizes[len(buf)] += 1
            while True:
                buf = b""
                more()
                sizes[len(buf)] += 1
    except (TimeoutError, socket.timeout, EOFError, ConnectionError):
        pass
    n = sum(sizes.values())
    total = sum(s * c for s, c in sizes.items())
    print(json.dumps({
        "request": head.split("\r\n")[0],
        "chunked": "chunked" in head.lower(),
        "chunks": n,
        "bytes": total,
        "mean": round(total / n) if n else None,
        "min": min(sizes) if sizes else None,
        "max": max(sizes) if sizes else None,
        "common": sizes.most_common(5),
    }))


main()
