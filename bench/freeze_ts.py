#!/usr/bin/env python3
"""freeze_ts.py IN OUT: copies an MPEG-TS file with every PCR, PTS and DTS set to one value,
so that its media time never advances (a frozen-clock publisher for bench/hostile.sh)."""

import sys

FROZEN = 90000 * 10  # 10 s, in 90 kHz ticks


def put_ts(buf, at, prefix, value):
    """Writes a 33-bit PES timestamp with its 4-bit prefix and marker bits at buf[at:at+5]."""
    buf[at] = (prefix << 4) | (((value >> 30) & 0x7) << 1) | 1
    buf[at + 1] = (value >> 22) & 0xFF
    buf[at + 2] = (((value >> 15) & 0x7F) << 1) | 1
    buf[at + 3] = (value >> 7) & 0xFF
    buf[at + 4] = ((value & 0x7F) << 1) | 1


def main():
    data = bytearray(open(sys.argv[1], "rb").read())
    pcrs = ptss = 0
    for off in range(0, len(data) - 187, 188):
        p = memoryview(data)[off:off + 188]
        if p[0] != 0x47:
            continue
        pusi = p[1] & 0x40
        afc = (p[3] >> 4) & 3
        pos = 4
        if afc & 2:
            alen = p[4]
            if alen and p[5] & 0x10 and alen >= 7:
                base = FROZEN
                p[6] = (base >> 25) & 0xFF
                p[7] = (base >> 17) & 0xFF
                p[8] = (base >> 9) & 0xFF
                p[9] = (base >> 1) & 0xFF
                p[10] = ((base & 1) << 7) | 0x7E
                p[11] = 0
                pcrs += 1
            pos = 5 + alen
        if not (afc & 1) or not pusi or pos + 14 > 188:
            continue
        if p[pos:pos + 3] != b"\x00\x00\x01" or p[pos + 3] < 0xBC:
            continue
        flags = p[pos + 7] >> 6
        if flags == 2:
            put_ts(p, pos + 9, 0x2, FROZEN)
            ptss += 1
        elif flags == 3:
            put_ts(p, pos + 9, 0x3, FROZEN)
            put_ts(p, pos + 14, 0x1, FROZEN)
            ptss += 1
    open(sys.argv[2], "wb").write(data)
    print(f"{pcrs} PCRs and {ptss} PTS set to {FROZEN}", file=sys.stderr)


if __name__ == "__main__":
    main()
