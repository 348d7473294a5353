#!/usr/bin/env python3
"""A webhook receiver for the hooks test: listen on 127.0.0.1 (port 0: any
free one) and append each POST as one JSON line to OUTFILE:
{"path": ..., "headers": {...}, "body": <the body parsed as JSON, or the
text when it is not JSON>}. The first line of OUTFILE is "LISTENING PORT".
  hook-listen.py OUTFILE [PORT]
"""
import http.server
import json
import sys

outfile = sys.argv[1]
port = int(sys.argv[2]) if len(sys.argv) > 2 else 0


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(n).decode("utf-8", "replace")
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw
        with open(outfile, "a") as out:
            out.write(json.dumps({"path": self.path,
                                  "headers": dict(self.headers),
                                  "body": body}) + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, fmt, *args):
        pass


srv = http.server.HTTPServer(("127.0.0.1", port), Handler)
with open(outfile, "a") as out:
    out.write("LISTENING %d\n" % srv.server_address[1])
srv.serve_forever()
