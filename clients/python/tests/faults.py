"""A fault-injecting HTTP server in front of the real one: it applies scripted faults to the
first requests (a status with optional Retry-After, a reset connection, or forwarding then
hanging past the client's timeout), then forwards everything."""

import gzip
import http.server
import threading
import time
import urllib.error
import urllib.request
from typing import List, Optional, Tuple


class FaultServer:
    def __init__(self, upstream: str, faults: List[Tuple]) -> None:
        self.upstream = upstream
        self.faults = list(faults)
        self.requests: List[Tuple[float, dict]] = []
        # The body of each request, decompressed.
        self.bodies: List[bytes] = []
        self.lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with server.lock:
                    server.requests.append((time.monotonic(), dict(self.headers)))
                    gzipped = self.headers.get("Content-Encoding") == "gzip"
                    server.bodies.append(gzip.decompress(body) if gzipped else body)
                    fault = server.faults.pop(0) if server.faults else None
                if fault is None:
                    self._relay(*server.forward(self.path, dict(self.headers), body))
                elif fault[0] == "status":
                    _, status, retry_after = fault
                    payload = b'{"error":{"code":"injected","message":"injected"}}'
                    self.send_response(status)
                    if retry_after is not None:
                        self.send_header("Retry-After", str(retry_after))
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(payload)
                elif fault[0] == "reset":
                    self.close_connection = True
                elif fault[0] == "hang":
                    server.forward(self.path, dict(self.headers), body)
                    time.sleep(fault[1])
                    self.close_connection = True

            def _relay(self, status: int, headers: dict, payload: bytes) -> None:
                self.send_response(status)
                for name in ("Content-Type", "Retry-After"):
                    if name in headers:
                        self.send_header(name, headers[name])
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def forward(self, path: str, headers: dict, body: bytes) -> Tuple[int, dict, bytes]:
        keep = {k: v for k, v in headers.items() if k.lower() in ("authorization", "content-type", "content-encoding")}
        request = urllib.request.Request(self.upstream + path, data=body, headers=keep, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def stop(self) -> None:
        self.httpd.shutdown()


def unreachable_server(status: int = 503, retry_after: Optional[int] = 60, count: int = 10_000) -> FaultServer:
    return FaultServer("http://127.0.0.1:9", [("status", status, retry_after)] * count)
