#!/usr/bin/env python3
# Writes the seed corpus of fuzz_devices (tests/fuzz/corpus/devices/): drivers that set a device
# up and make requests (virtio-net transmit looped back to receive, virtio-blk reads and writes),
# legacy and modern, encoded the way fuzz_devices.c reads its input.
import os, struct, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fzenc  # noqa: E402

PAGE = 4096
class Enc(fzenc.Base):
    def __init__(s, which): super().__init__(); s.below(2, which)
    def bus(s, page): s.below(8, 2); s.below(256, page); s.below(4, 1)
    def map_all(s, flags=3): s.below(16, 10); s.below(256, 0); s.below(256, 255); s.below(3, 1); s.below(3, flags - 1)
    def init(s, modern, queues, feat=0):
        s.below(16, 0); s.below(2, 1 if modern else 0); s.below(4, 1); s.u32(feat); s.below(4, len(queues))
        for q, page in queues:
            s.below(3, q); s.bus(page)
            if modern:
                s.below(2, 0); s.below(4, 1); s.below(2, 1); s.below(2, 1); s.below(8, 1)
            else:
                s.below(2, 1)
    def desc(s, ring_page, i, buf_page, length, flags, nxt=0):
        s.below(16, 2); s.below(1 << 20, ring_page * PAGE + 16 * i); s.below(4, 0); s.bus(buf_page)
        s.below(4, 1); s.below(2 * PAGE, length); s.below(8, flags); s.below(260, nxt)
    def word(s, off, v): s.below(16, 2); s.below(1 << 20, off); s.below(4, 1); s.below(2, 1); s.below(260, v)
    def avail(s, ring_page, slot, head, idx, qsize=256):  # the legacy layout: avail after the descriptors
        s.word(ring_page * PAGE + 16 * qsize + 4 + 2 * slot, head); s.word(ring_page * PAGE + 16 * qsize + 2, idx)
    def notify(s, q, legacy=True): s.below(16, 5); s.below(3, q); s.below(2, 1 if legacy else 0)
    def data(s, off, bs): s.below(16, 2); s.below(1 << 20, off); s.below(4, 2); s.below(65, len(bs)); s.b += bs

def net(modern):
    e = Enc(0); e.map_all(); e.init(modern, [(0, 0), (1, 16)], feat=1 << 5)
    e.desc(0, 0, 64, 2048, 2); e.avail(0, 0, 0, 1); e.notify(0, not modern)
    e.data(80 * PAGE, bytes(12) + b'\xff' * 6 + b'\x02' + bytes(5) + b'\x08\x00' + bytes(20))
    e.desc(16, 0, 80, 100, 0); e.avail(16, 0, 0, 1); e.notify(1, not modern)
    return e.b

def net_indirect():
    e = Enc(0); e.map_all(); e.init(False, [(0, 0), (1, 16)], feat=(1 << 5) | (1 << 28))
    e.desc(0, 0, 64, 2048, 2); e.avail(0, 0, 0, 1); e.notify(0)
    e.desc(32, 0, 80, 12, 0); e.desc(32, 1, 81, 60, 0)
    e.desc(16, 0, 32, 32, 4); e.avail(16, 0, 0, 1); e.notify(1)
    return e.b

def blk(modern, write):
    e = Enc(1); e.map_all(); e.init(modern, [(0, 0)])
    hdr = struct.pack('<IIQ', 1 if write else 0, 0, 2)
    e.data(64 * PAGE, hdr)
    e.desc(0, 0, 64, 16, 1, 1); e.desc(0, 1, 65, 1024, 1 if write else 2 | 1, 2); e.desc(0, 2, 66, 1, 2)
    e.avail(0, 0, 0, 1, 256 if modern else 128); e.notify(0, not modern)
    return e.b

def blk_readonly_fault():
    e = Enc(1); e.map_all(1); e.init(False, [(0, 0)])
    e.data(64 * PAGE, struct.pack('<IIQ', 0, 0, 0))
    e.desc(0, 0, 64, 16, 1, 1); e.desc(0, 1, 65, 512, 3, 2); e.desc(0, 2, 66, 1, 2)
    e.avail(0, 0, 0, 1, 128); e.notify(0)
    return e.b

fzenc.write(os.path.join(os.path.dirname(__file__), '..', 'corpus', 'devices'),
            [('net_legacy', net(False)), ('net_modern', net(True)), ('net_indirect', net_indirect()),
             ('blk_read', blk(False, False)), ('blk_write_modern', blk(True, True)),
             ('blk_readonly_fault', blk_readonly_fault())])
