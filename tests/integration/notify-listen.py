#!/usr/bin/env python3
"""A stand-in for systemd's notification socket: bind a datagram socket at
SOCKET and append every field of every message to OUTFILE, one line each,
as "<monotonic seconds> <field>" (READY=1, WATCHDOG=1, MAINPID=..., ...).
  notify-listen.py SOCKET OUTFILE
"""
import os
import socket
import sys
import time

path, outfile = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
try:
    os.unlink(path)
except FileNotFoundError:
    pass
s.bind(path)
with open(outfile, "a", buffering=1) as out:
    out.write("%.3f LISTENING\n" % time.monotonic())
    while True:
        msg = s.recv(4096).decode("utf-8", "replace")
        now = time.monotonic()
        for field in msg.split("\n"):
            if field:
                out.write("%.3f %s\n" % (now, field))
