#!/usr/bin/env python3
# Writes the seed corpus of fuzz_vfio (tests/fuzz/corpus/vfio/): typical client programs (v2 with
# registration, windows and maps; v1 with ENABLE; devices; a second process), encoded the way
# fuzz_vfio.c reads its input (fz_below: 1, 2, 4 or 8 little-endian bytes by the bound).
import os, struct, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fzenc  # noqa: E402

class Enc(fzenc.Base):
    def __init__(s): super().__init__(); s.nfds = 0; s.fds = []
    def fd(s, i):  # index of an opened descriptor, None: -1
        s.below(len(s.fds) + 2, i if i is not None else len(s.fds) + 1)
    def place(s): s.below(12, 4); s.below(64, 0)
    def argsz(s): s.below(8, 3)
    def step(s, what, fd): s.below(24, what); s.fd(fd)
    def open(s, pidx):
        s.step(0, None); s.below(14, pidx); s.fds.append(pidx)
    def set_container(s, g, c):
        s.step(4, g); s.fd(c); s.place()
    def set_iommu(s, c, t):  # types[]: 7, 2, ...
        s.step(8, c); s.below(8, 1); s.below(7, [7, 2, 1, 3, 8, 0, 9].index(t))
    def ua(s, page): s.below(7, 0); s.below(64, page)
    def size(s, pages): s.below(6, 0); s.below(64, pages - 1)
    def iova(s, page): s.below(4, 0); s.below(1024, page)
    def register(s, c, page, pages, un=False):
        s.step(12 if un else 11, c); s.argsz(); s.below(4, 1); s.ua(page); s.size(pages); s.place()
    def map(s, c, page, iova, pages, flags=3):
        s.step(13, c); s.argsz(); s.below(8, 1); s.below(3, flags - 1); s.ua(page); s.iova(iova); s.size(pages); s.place()
    def unmap(s, c, iova, pages):
        s.step(14, c); s.argsz(); s.below(8, 1); s.iova(iova); s.below(4, 1); s.size(pages); s.place()
    def create(s, c, pshift_i, wshift, levels):
        s.step(15, c); s.argsz(); s.below(8, 1); s.below(4, 1); s.below(5, pshift_i); s.below(4, 1); s.below(37, wshift - 12); s.below(7, levels); s.place()
    def remove(s, c, slot1=False):
        s.step(16, c); s.argsz(); s.below(8, 1); s.below(3, 1); s.below(2, 1 if slot1 else 0); s.place()
    def info(s, c): s.step(17, c); s.argsz(); s.place()
    def enable(s, c): s.step(10, c); s.below(2, 1)
    def get_device(s, g, bdf_i):
        s.step(7, g); s.below(11, bdf_i); s.place(); s.fds.append('dev')
    def close(s, i): s.step(1, i); s.fds.pop(i) if False else None
    def pid(s, k): s.step(3, None); s.below(3, k)
    def dev(s, d, what, sub):
        s.step(20 + (what % 4), d); s.below(2, what // 4)
        if what == 0 or what == 1 or what == 2: s.argsz();
        if what == 1: s.below(12, sub)
        if what == 2: s.below(7, sub)
        if what in (0, 1, 2): s.place()

def v2():
    e = Enc(); e.open(0); e.open(1); e.set_container(1, 0); e.set_iommu(0, 7)
    e.register(0, 0, 32); e.info(0); e.remove(0); e.create(0, 0, 30, 1)
    e.map(0, 0, 16, 8); e.map(0, 4, 100, 4, 1); e.unmap(0, 16, 8); e.register(0, 0, 32, un=True)
    return e.b

def v2_two_windows():
    e = Enc(); e.open(0); e.open(1); e.set_container(1, 0); e.set_iommu(0, 7)
    e.register(0, 0, 64); e.create(0, 1, 32, 2); e.map(0, 0, 0, 32); e.open(2); e.set_container(2, 0)
    e.map(0, 32, 40, 16, 2)
    return e.b

def v1():
    e = Enc(); e.open(0); e.open(1); e.set_container(1, 0); e.set_iommu(0, 2); e.info(0); e.enable(0)
    e.map(0, 0, 0, 16); e.unmap(0, 0, 8)
    return e.b

def devices():
    e = Enc(); e.open(0); e.open(1); e.set_container(1, 0); e.set_iommu(0, 7); e.get_device(1, 0)
    for what, sub in ((0, 0), (1, 0), (1, 4), (1, 7), (2, 0), (2, 2), (4, 0)):
        e.dev(2, what, sub)
    return e.b

def two_processes():
    e = Enc(); e.open(0); e.open(1); e.set_container(1, 0); e.set_iommu(0, 7); e.register(0, 0, 16)
    e.pid(1); e.register(0, 16, 16); e.map(0, 0, 0, 4); e.pid(0); e.map(0, 0, 0, 4)
    return e.b

fzenc.write(os.path.join(os.path.dirname(__file__), '..', 'corpus', 'vfio'),
            [(f.__name__, f()) for f in (v2, v2_two_windows, v1, devices, two_processes)])
