#!/usr/bin/env python3
"""A reader stream with a fixed script of whole snapshots and deltas, for
test_stream_delta.sh: the real reader sends deltas only from the kernel
module's delta file, which the host does not have, so this stands in for
it (it speaks the same protocol: hello, then the messages; the decider's
sub is read and not answered with a replay).

  fake-reader.py SOCK PAUSE

Listens on SOCK, takes one client, sends the script with PAUSE seconds
between messages, printing "sent SEQ" for each, then "done" and holds the
connection until killed. The script (pid sets as the decider should hold
them after each message):

  1 snapshot   host 1-6, 20 in container X (/docker/X), 21 claiming X
               from a look-alike cgroup (refused)        -> 8 procs
  2 delta b=1  7 new, 2 exited                           -> 8
  3 delta b=2  3 ran, 22 new in X                        -> 9
  4 delta b=99 9 new: not on the decider's base: waits
  5 delta b=4  10 new: follows 4, which was not applied: waits
  6 snapshot   host 1-5, 20, 21                          -> 7
  7 delta b=6  5 exited, 11 and 12 new                   -> 8
"""
import os
import socket
import struct
import sys
import time

CID = "ab" * 32


def pack(v):
    """msgpack of None, bool, int, float, str, list or dict."""
    if v is None:
        return b"\xc0"
    if isinstance(v, bool):
        return b"\xc3" if v else b"\xc2"
    if isinstance(v, int):
        if 0 <= v < 128:
            return bytes([v])
        if v >= 0:
            return b"\xcf" + struct.pack(">Q", v)
        return b"\xd3" + struct.pack(">q", v)
    if isinstance(v, float):
        return b"\xcb" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode()
        if len(b) < 32:
            return bytes([0xa0 | len(b)]) + b
        return b"\xda" + struct.pack(">H", len(b)) + b
    if isinstance(v, list):
        out = b"\xdc" + struct.pack(">H", len(v))
        for x in v:
            out += pack(x)
        return out
    out = b"\xde" + struct.pack(">H", len(v))
    for k, x in v.items():
        out += pack(k) + pack(x)
    return out


def proc(pid, cpu=1000, cid="", cgroup=None, name=None):
    p = {"pid": pid, "ppid": 1, "name": name or "p%d" % pid,
         "cmdline": "/bin/p%d" % pid, "state": "S", "vsz_kb": 1000,
         "rss_kb": 100 + pid, "cpu_ns": cpu, "start_ns": 10 + pid,
         "uid": 0, "threads": 1, "container_id": cid}
    if cgroup is not None:
        p["cgroup"] = cgroup
    return p


def inx(pid, cpu=1000):
    return proc(pid, cpu, CID, "/docker/" + CID)


def fake(pid, cpu=1000):
    return proc(pid, cpu, CID, "/kwf.slice/docker-" + CID + ".scope")


HOST = {"mem_total_kb": 8000000, "mem_free_kb": 4000000,
        "mem_used_kb": 4000000, "mem_available_kb": 5000000, "ncpu": 2}


def body(t, seq, mono, procs, base=None, exited=None):
    m = {"t": t, "seq": seq, "ts": time.time_ns(), "source": "kmod",
         "mono": mono, "host": HOST, "procs": procs}
    if base is not None:
        m["base"] = base
        m["exited"] = exited or []
    return m


def script():
    host = [proc(p) for p in range(1, 7)]
    return [
        ("snapshot", 1, host + [inx(20), fake(21)], None, None),
        ("delta", 2, [proc(7)], 1, [2]),
        ("delta", 3, [proc(3, cpu=900000000), inx(22)], 2, []),
        ("delta", 4, [proc(9)], 99, []),
        ("delta", 5, [proc(10)], 4, []),
        ("snapshot", 6, [proc(p) for p in range(1, 6)] +
         [inx(20), fake(21)], None, None),
        ("delta", 7, [proc(11), proc(12)], 6, [5]),
    ]


def main():
    path, pause = sys.argv[1], float(sys.argv[2])
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    c, _ = srv.accept()
    epoch = int(time.time())
    c.sendall(pack({"t": "hello", "seq": 0, "ts": time.time_ns(),
                    "stream": "reader", "epoch": epoch, "v": 1}))
    c.settimeout(5)
    try:
        c.recv(4096)  # the sub
    except socket.timeout:
        pass
    mono = time.monotonic_ns()
    for t, seq, procs, base, exited in script():
        time.sleep(pause)
        mono += int(pause * 1e9)
        c.sendall(pack(body(t, seq, mono, procs, base, exited)))
        print("sent %d" % seq, flush=True)
    print("done", flush=True)
    c.settimeout(None)
    try:
        while c.recv(4096):
            pass
    except OSError:
        pass


if __name__ == "__main__":
    main()
