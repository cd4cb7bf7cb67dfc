"""A browser reaches the app the way the `http` fixture does: through a loopback HTTP proxy that
sends each request through that fixture's client (the run's target: the local engine's gateway,
an SSH tunnel, ...). The browser asks for `http://<app domain>/…` as a visitor would; the client
adds nothing but the reach, so Host routing, redirects and cookies are the app's own.

Plain HTTP only: a CONNECT (https://) is refused; the apps are reached behind their proxy's TLS.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import httpx  # loaded while the first op waits on docker (orchestrator), not at start-up


log = logging.getLogger("cc-ci.reach")
_POLL_S = 0.02

# not forwarded either way: they describe one connection, not the request (RFC 9110 7.6.1)
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                         "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host",
                         "content-length"})


@contextlib.contextmanager
def reach_proxy(client: httpx.Client, domain: str) -> Iterator[str]:
    """`http://127.0.0.1:<port>` for the block: requests for `domain` (or its subdomains) go
    through `client`; anything else is refused, so a page cannot make the harness fetch the web."""

    import httpx

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 -- stdlib's name
            pass  # the app's requests are not the run's log

        def do_CONNECT(self) -> None:  # noqa: N802 -- stdlib's name
            self._refuse(405, "cc-ci reaches apps over plain HTTP")

        def _forward(self) -> None:
            target = urlsplit(self.path)
            host = (target.hostname or "").lower()
            if target.scheme != "http" or not (host == domain or host.endswith("." + domain)):
                self._refuse(403, f"cc-ci reaches only {domain}")
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            headers["Host"] = target.netloc
            path = (target.path or "/") + (f"?{target.query}" if target.query else "")
            try:
                answer = client.request(self.command, path, headers=headers, content=body)
                data = answer.content  # decoded: the browser gets it without content-encoding
                self.send_response(answer.status_code)
                for key, value in answer.headers.multi_items():
                    if key.lower() not in _HOP_BY_HOP | {"content-encoding"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
            except httpx.HTTPError as err:
                self._refuse(502, f"the app did not answer: {type(err).__name__}: {err}")

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _forward

        def _refuse(self, status: int, reason: str) -> None:
            data = reason.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = _QuietServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    # its shutdown waits for serve_forever's next poll: the stdlib's 0.5 s was up to half a second at the
    # end of every screenshot and browser test, which a tier's end waits on
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": _POLL_S}, name="ccci-reach-proxy",
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietServer(ThreadingHTTPServer):
    """A browser drops connections at will (a refused CONNECT, a page navigated away): that is one
    debug line, never the stdlib's traceback on the run's console."""

    def handle_error(self, request: object, client_address: object) -> None:
        err = sys.exc_info()[1]
        log.debug("reach proxy: a connection from %s ended early: %s: %s",
                  client_address, type(err).__name__, " ".join(str(err).split()))

