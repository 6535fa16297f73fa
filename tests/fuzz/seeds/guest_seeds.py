#!/usr/bin/env python3
# Writes the seed corpus of fuzz_guest (tests/fuzz/corpus/guest/), encoded the way fuzz_guest.c
# reads its input (fz_below: 1, 2, 4 or 8 little-endian bytes by the bound). Windows: the default
# one (1 GiB of 4 KiB pages at bus 0) unless a DDW window was created.
import os, struct, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fzenc  # noqa: E402

class Enc(fzenc.Base):
    def __init__(s, ram_shift_i): super().__init__(); s.below(3, ram_shift_i)
    def hc(s, liobn_i, page, pages=1 << 18):
        s.below(5, 1); s.below(5, liobn_i); s.below(8, 1); s.below(pages, page)
    def tce(s, gpage, perm, gpages=(64 << 20) >> 12): s.below(8, 3); s.below(gpages, gpage); s.below(4, perm)
    def put(s, page, gpage, perm=3, liobn_i=0): s.hc(liobn_i, page); s.below(4, 0); s.tce(gpage, perm)
    def indirect(s, page, n, gpage, perm=3):
        s.hc(0, page); s.below(4, 1); s.below(520, n); s.below(16, 1); s.tce(gpage, perm); s.below(2, 1)
        s.below(4, 1)
    def stuff(s, page, n): s.hc(0, page); s.below(4, 2); s.below(8, 1); s.below(4, 1); s.below(1024, n)
    def get(s, page): s.hc(0, page); s.below(4, 3)
    def rtas(s, which, *args):
        s.below(5, 0); s.below(4, which); s.below(8, 1)
        if which == 0: s.below(2, 1)
        if which == 1: s.below(4, 1); s.below(5, args[0]); s.below(4, 1); s.below(28, args[1] - 20)
        if which == 2: s.below(5, args[0])
        s.below(16, 1)

def puts():
    e = Enc(0); e.put(5, 3); e.put(6, 4, 2); e.put(7, 4, 1); e.get(5); e.put(5, 3, 0); e.get(5); return e.b
def lists():
    e = Enc(0); e.indirect(16, 512, 100); e.indirect(600, 7, 2000, 1); e.stuff(20, 100); e.get(30); return e.b
def ddw():
    e = Enc(1); e.rtas(0); e.rtas(1, 1, 30); e.put(3, 10, 3, 2); e.rtas(2, 2); e.rtas(3); e.put(1, 1); return e.b
def big_pages():
    e = Enc(2); e.rtas(0); e.rtas(1, 3, 32); e.rtas(0); e.put(2, 5, 3, 2); e.rtas(3); return e.b

fzenc.write(os.path.join(os.path.dirname(__file__), '..', 'corpus', 'guest'),
            [(f.__name__, f()) for f in (puts, lists, ddw, big_pages)])
