"""Serving the stand-in over HTTP on loopback, for the ``tracker fake-dgfip`` command and for tests."""

from __future__ import annotations

import ipaddress
from typing import Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


def is_loopback(host: str) -> bool:
    """Only this machine may reach the stand-in: it hands out credentials to whoever asks with the token."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class StandInRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler, passing the ``ID_Teleservice`` header through.

    Werkzeug (like gunicorn) drops request headers with an underscore, because ``ID_Teleservice`` and
    ``ID-Teleservice`` would land on the same WSGI key and one could spoof the other behind a proxy
    that only filters one spelling. The real gateway takes this header with its underscore, and nothing
    sits in front of the stand-in, so it is let through here, under its one WSGI key.
    """

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        for key, value in self.headers.items():
            if key.lower() == "id_teleservice":
                environ["HTTP_ID_TELESERVICE"] = value.replace("\r\n", "")
        return environ

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """The app logs each request itself, with the client and correlation ids: no second line here."""


def make_stand_in_server(app: Flask, *, host: str = "127.0.0.1", port: int = 0) -> BaseWSGIServer:
    """A threaded HTTP server for the stand-in (``port=0`` picks a free port: read ``server.port``).
    Start it with ``serve_forever()``, stop it with ``shutdown()`` then ``server_close()``."""
    if not is_loopback(host):
        raise ValueError(f"the stand-in only listens on a loopback address, not {host!r}")
    return make_server(host, port, app, threaded=True, request_handler=StandInRequestHandler)
