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

from pshub.pipeline.http import redact_query, redact_text
from pshub_local import apigw

if TYPE_CHECKING:
    from pshub_local.runtime import LocalRuntime

log = logging.getLogger(__name__)
access_log = logging.getLogger("pshub_local.access")

_READ_CHUNK = 1024 * 1024
# Past API Gateway's limit the rest of a body is read and dropped (so the client sees the
# 413, not a reset) up to this much more; a client sending beyond it is cut off.
_DISCARD_LIMIT = 16 * 1024 * 1024
# A chunk-size line longer than this is not HTTP/1.1 any client sends.
_MAX_CHUNK_LINE = 1024
_HEX = frozenset("0123456789abcdefABCDEF")


class _BadRequest(Exception):
    """The request is not well-formed HTTP/1.1: answered 400 and the connection closed."""


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
    # The listen backlog: socketserver's default of 5 resets connections as soon as a few
    # dozen clients connect at once (vendors retry in bursts after an outage).
    request_queue_size = 1024
    runtime: LocalRuntime


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "pshub-local"
    sys_version = ""
    # A client that stops sending mid-request is dropped after this long (API Gateway: 30 s).
    timeout = 30

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
        try:
            body = self._read_body()
        except _BadRequest as error:
            self.close_connection = True
            self._write(apigw.error_result(400, f"Bad Request: {error}"))
            return
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
        """The request body, or None when it is over API Gateway's limit (read and dropped).

        ``_BadRequest`` for framing no HTTP/1.1 client sends: a Content-Length that is not
        digits, two that differ, one beside chunked encoding (a request-smuggling shape),
        a transfer coding other than chunked, or a malformed chunk.
        """
        lengths = self.headers.get_all("Content-Length") or []
        codings = ",".join(self.headers.get_all("Transfer-Encoding") or []).lower()
        if codings:
            if lengths:
                raise _BadRequest("Content-Length together with Transfer-Encoding")
            if [c.strip() for c in codings.split(",")] != ["chunked"]:
                raise _BadRequest("the only transfer coding accepted is chunked")
            return self._read_chunked()
        values = {value.strip() for value in lengths}
        if len(values) > 1:
            raise _BadRequest("more than one Content-Length")
        text = values.pop() if values else "0"
        if not (text.isascii() and text.isdigit()):
            raise _BadRequest("Content-Length is not a number of bytes")
        length = int(text)
        if length > apigw.MAX_REQUEST_BODY_BYTES:
            self._discard(length)
            return None
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            raise _BadRequest("the body ended before Content-Length bytes")
        return body

    def _read_chunked(self) -> bytes | None:
        parts: list[bytes] = []
        size_total = 0
        while True:
            line = self.rfile.readline(_MAX_CHUNK_LINE + 1)
            if len(line) > _MAX_CHUNK_LINE or not line.endswith(b"\n"):
                raise _BadRequest("malformed chunk-size line")
            digits = line.split(b";", 1)[0].strip().decode("latin-1")
            if not digits or not set(digits) <= _HEX or len(digits) > 16:
                raise _BadRequest("malformed chunk size")
            size = int(digits, 16)
            if size == 0:
                # Trailer lines may follow the last chunk; like API Gateway, ignore them.
                while (trailer := self.rfile.readline(_MAX_CHUNK_LINE + 1)) not in (b"\r\n", b"\n"):
                    if not trailer or len(trailer) > _MAX_CHUNK_LINE:
                        raise _BadRequest("malformed trailer")
                break
            size_total += size
            if size_total > apigw.MAX_REQUEST_BODY_BYTES:
                # Stop reading: the rest could be anything up to 16 hex digits of size.
                self.close_connection = True
                return None
            chunk = self.rfile.read(size)
            if len(chunk) < size or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise _BadRequest("chunk shorter than its size, or not followed by CRLF")
            parts.append(chunk)
        return b"".join(parts)

    def _discard(self, length: int) -> None:
        # Read the rest so the client sees the 413 instead of a reset connection, within reason.
        remaining = length
        if remaining > _DISCARD_LIMIT:
            self.close_connection = True
            return
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
        if self.close_connection:
            self.send_header("connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(result.body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The request line with credential-like query parameters masked (Salesforce's token).
        method, _, rest = getattr(self, "requestline", "").partition(" ")
        target, _, version = rest.rpartition(" ") if " " in rest else (rest, "", "")
        path, question, query = target.partition("?")
        line = f"{method} {path}{question}{redact_query(query)} {version}".strip()
        access_log.info("%s - %s %s %s", self.client_address[0], line, code, size)

    def log_message(self, format: str, *args: Any) -> None:
        # Errors the base class reports (bad request lines) can quote the request line too.
        access_log.info("%s - %s", self.client_address[0], redact_text(format % args))


def _is_loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.version == 4 and address.is_loopback
