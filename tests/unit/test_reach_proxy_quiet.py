"""The reach proxy never prints a traceback: a browser that drops a CONNECT (or any request) half
way is a one-line debug log, not noise in a passing run's console."""

from __future__ import annotations

import logging
import socket
import struct
import time

import httpx
import pytest

from runner.pictures.reachproxy import reach_proxy


def _drop_mid_request(port: int, request: bytes) -> None:
    """Send a request and reset the connection at once, as Chromium does with a refused CONNECT."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST
    sock.sendall(request)
    sock.close()


def test_a_dropped_connect_is_a_debug_line_not_a_traceback(capfd: pytest.CaptureFixture[str],
                                                           caplog: pytest.LogCaptureFixture) -> None:
    client = httpx.Client(base_url="http://10.0.0.9:80", transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    caplog.set_level(logging.DEBUG, logger="cc-ci.reach")
    with reach_proxy(client, "demo.ccci.test") as proxy:
        port = int(proxy.rsplit(":", 1)[1])
        for _ in range(5):
            _drop_mid_request(port, b"CONNECT demo.ccci.test:443 HTTP/1.1\r\nHost: demo.ccci.test:443\r\n\r\n")
            _drop_mid_request(port, b"CONNECT demo.ccci.test:443 HTTP/1.1\r\n")
        time.sleep(0.5)
        with httpx.Client(proxy=proxy) as browser:  # and it still serves
            assert browser.get("http://demo.ccci.test/").status_code == 200
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Error" not in err, err
    dropped = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert dropped and all("\n" not in r.getMessage() for r in dropped)
    assert "reach proxy" in dropped[0].getMessage()
