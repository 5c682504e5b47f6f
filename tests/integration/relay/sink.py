"""A downstream webhook receiver for the in-stack test: prints each POST as one JSON line, answers 200.

Runs inside the project image on the stack's network (the relay reaches it as http://sink:8080).
"""

import base64
import http.server
import json
import socket


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        record = {
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": base64.b64encode(body).decode(),
        }
        print(json.dumps(record), flush=True)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


# The container's own address on the stack's network (where the alias `sink` points), not every address.
http.server.ThreadingHTTPServer((socket.gethostbyname(socket.gethostname()), 8080), Handler).serve_forever()
