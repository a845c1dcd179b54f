"""The local stand-in for the HTTP API: 127.0.0.1 only, routes from the topology.

Each request becomes the payload-format-2.0 event API Gateway would send, the
route's function is invoked in-process, and its result is written back the way
API Gateway would write it.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pshub_local import apigw

if TYPE_CHECKING:
    from pshub_local.runtime import LocalRuntime

log = logging.getLogger(__name__)
access_log = logging.getLogger("pshub_local.access")

_READ_CHUNK = 1024 * 1024


class WebhookServer:
    """``with WebhookServer(runtime) as server: server.url``"""

    def __init__(self, runtime: LocalRuntime, host: str = "127.0.0.1", port: int = 0) -> None:
        host = "127.0.0.1" if host == "localhost" else host
        if not _is_loopback(host):
            raise ValueError(f"the local server binds to 127.0.0.1 only, not {host!r}")
        self.runtime = runtime
        self._httpd = _Server((host, port), _Handler)
        self._httpd.runtime = runtime
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        host = self._httpd.server_address[0]
        return f"http://{host.decode() if isinstance(host, bytes) else host}:{self.port}"

    def start(self) -> WebhookServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="pshub-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> WebhookServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    runtime: LocalRuntime


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "pshub-local"
    sys_version = ""

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        runtime = self.server.runtime
        target = urlsplit(self.path)
        raw_path, raw_query = target.path, target.query
        body = self._read_body()
        if body is None:
            self._write(apigw.error_result(413, "Request Entity Too Large"))
            return
        matched = apigw.match_route(runtime.topology.routes, self.command, raw_path)
        if matched is None:
            self._write(apigw.error_result(404, "Not Found"))
            return
        route, path_parameters = matched
        event = apigw.build_event(
            route=route,
            path_parameters=path_parameters,
            method=self.command,
            raw_path=raw_path,
            raw_query=raw_query,
            headers=list(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
            server_port=self.server.server_address[1],
            protocol=self.request_version,
        )
        request_id = event["requestContext"]["requestId"]
        try:
            result = runtime.invoke(route.function, event)
        except Exception:
            log.exception("%s failed on %s %s", route.function, self.command, raw_path)
            self._write(apigw.error_result(500, "Internal Server Error"))
            return
        self._write(apigw.to_http_result(result, request_id))

    def _read_body(self) -> bytes | None:
        """The request body, or None when it is over API Gateway's limit (read and dropped)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if length > apigw.MAX_REQUEST_BODY_BYTES:
            self._discard(length)
            return None
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes | None:
        parts: list[bytes] = []
        size_total = 0
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                # Trailer lines may follow the last chunk; like API Gateway, ignore them.
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    continue
                break
            chunk = self.rfile.read(size)
            self.rfile.readline()
            size_total += size
            if size_total <= apigw.MAX_REQUEST_BODY_BYTES:
                parts.append(chunk)
        return b"".join(parts) if size_total <= apigw.MAX_REQUEST_BODY_BYTES else None

    def _discard(self, length: int) -> None:
        # Read the rest so the client sees the 413 instead of a reset connection.
        remaining = length
        while remaining > 0:
            chunk = self.rfile.read(min(_READ_CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)

    def _write(self, result: apigw.HttpResult) -> None:
        self.send_response(result.status)
        for name, value in result.headers.items():
            if name not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        for cookie in result.cookies:
            self.send_header("set-cookie", cookie)
        self.send_header("content-length", str(len(result.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(result.body)

    def log_message(self, format: str, *args: Any) -> None:
        access_log.info("%s - %s", self.client_address[0], format % args)


def _is_loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.version == 4 and address.is_loopback
