#!/usr/bin/env python3
"""Hostile clients for kwarden's sockets, as test_hostile.sh needs them.

  split SOCK            dd, a pause, 7f ff ff ff: "closed" or "open"
  nested SOCK N         N connections, a count split inside an array
  hold SOCK N SECS READY [sub]
                        N connections that never read (each sends
                        sub from=1 with "sub"); writes READY once all are
                        connected, holds SECS, prints "served N refused M"
  flood SOCK N CMD COUNT SECS
                        N control clients sending CMD COUNT times and
                        never reading until all are cut off or SECS
                        pass; prints how many were cut off
  replays SOCK K        K subs from=1, reading all; "closed" or "open"
  ack SOCK SEQ          an ack of SEQ, then close
"""
import os
import select
import socket
import struct
import sys
import time


def pack(v):
    """The msgpack of a str, a non-negative int, a bool or a dict."""
    if isinstance(v, bool):
        return b"\xc3" if v else b"\xc2"
    if isinstance(v, int):
        if v < 128:
            return bytes([v])
        return b"\xcf" + struct.pack(">Q", v)
    if isinstance(v, str):
        b = v.encode()
        return bytes([0xa0 | len(b)]) + b
    out = bytes([0x80 | len(v)])
    for k, x in v.items():
        out += pack(k) + pack(x)
    return out


SUB = pack({"t": "sub", "epoch": 0, "from": 1})


def connect(path, rcvbuf=None):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(path)
    return s


def closed_by_peer(s, secs):
    """Read (and drop) until EOF or secs pass: True on EOF."""
    s.settimeout(0.1)
    end = time.monotonic() + secs
    while time.monotonic() < end:
        try:
            if s.recv(65536) == b"":
                return True
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


def main():
    cmd, path = sys.argv[1], sys.argv[2]
    if cmd == "split":
        s = connect(path)
        s.sendall(b"\xdd")
        time.sleep(0.3)
        try:
            s.sendall(b"\x7f\xff\xff\xff")
        except (ConnectionResetError, BrokenPipeError):
            pass
        print("closed" if closed_by_peer(s, 3) else "open")
    elif cmd == "nested":
        n = int(sys.argv[3])
        socks = [connect(path) for _ in range(n)]
        for s in socks:
            s.sendall(b"\x91\x91\x91\xdd\x7f")
        time.sleep(0.3)
        for s in socks:
            try:
                s.sendall(b"\xff\xff\xff")
            except (ConnectionResetError, BrokenPipeError):
                pass
        print(sum(closed_by_peer(s, 2) for s in socks))
    elif cmd == "hold":
        n, secs, ready = int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
        sub = len(sys.argv) > 6 and sys.argv[6] == "sub"
        socks = []
        for _ in range(n):
            s = connect(path, rcvbuf=4096)
            if sub:
                s.sendall(SUB)
            socks.append(s)
        time.sleep(0.5)
        served = refused = 0
        for s in socks:
            # A refused connection is closed before any hello.
            s.setblocking(False)
            try:
                got = s.recv(1)
            except BlockingIOError:
                got = b"?"
            except ConnectionResetError:
                got = b""
            if got == b"":
                refused += 1
            else:
                served += 1
        with open(ready, "w") as f:
            f.write("ready\n")
        time.sleep(secs)
        for s in socks:
            s.close()
        print("served %d refused %d" % (served, refused))
    elif cmd == "flood":
        n, line = int(sys.argv[3]), sys.argv[4].encode() + b"\n"
        count, secs = int(sys.argv[5]), float(sys.argv[6])
        socks = []
        for _ in range(n):
            s = connect(path, rcvbuf=4096)
            s.setblocking(False)
            data = line * count
            try:
                while data:
                    data = data[s.send(data):]
            except (BlockingIOError, ConnectionResetError,
                    BrokenPipeError):
                pass
            socks.append(s)
        # Wait, without reading, until each is hung up on or secs pass.
        poller = select.poll()
        for s in socks:
            poller.register(s, select.POLLRDHUP | select.POLLHUP)
        hung = set()
        end = time.monotonic() + secs
        while len(hung) < len(socks) and time.monotonic() < end:
            for fd, ev in poller.poll(100):
                hung.add(fd)
                poller.unregister(fd)
        cut = 0
        for s in socks:
            s.setblocking(True)
            if closed_by_peer(s, 1):
                cut += 1
        print(cut)
    elif cmd == "replays":
        k = int(sys.argv[3])
        s = connect(path)
        s.settimeout(0.05)
        for _ in range(k):
            try:
                s.sendall(SUB)
            except (ConnectionResetError, BrokenPipeError):
                break
            try:
                while s.recv(1 << 20):
                    pass
            except socket.timeout:
                pass
            except ConnectionResetError:
                break
        print("closed" if closed_by_peer(s, 1) else "open")
    elif cmd == "ack":
        s = connect(path)
        s.sendall(pack({"t": "ack", "seq": int(sys.argv[3])}))
        time.sleep(0.3)
        s.close()
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
