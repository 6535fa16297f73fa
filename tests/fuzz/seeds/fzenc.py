# The seed generators' encoder: the inverse of tests/fuzz/fuzz.c's reads.
import struct

class Base:
    def __init__(s): s.b = bytearray()
    def below(s, n, v):
        """fz_below(n) reading v: 1, 2, 4 or 8 little-endian bytes by the bound."""
        if n <= 1: return
        if n <= 0x100: s.b += struct.pack('<B', v)
        elif n <= 0x10000: s.b += struct.pack('<H', v)
        elif n <= 0x100000000: s.b += struct.pack('<I', v)
        else: s.b += struct.pack('<Q', v)
    def u32(s, v): s.b += struct.pack('<I', v)
    def u64(s, v): s.b += struct.pack('<Q', v)

def write(default_dir, cases):
    import os, sys
    out = sys.argv[1] if len(sys.argv) > 1 else default_dir
    os.makedirs(out, exist_ok=True)
    for name, data in cases:
        open(os.path.join(out, name), 'wb').write(data)
