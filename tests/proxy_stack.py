"""docker-compose.yml's web tier without Docker: web replicas behind deploy/Caddyfile, run locally.

In the stack, Docker's DNS answers the service name ``web`` with one address
per replica and Caddy's ``dynamic a`` upstreams follow it. Here the replicas
listen on 127.0.0.1 and 127.0.0.2 (both loopback) on one port, and a stub DNS
server answers ``web`` with those two addresses; the project's Caddyfile is
adapted by Caddy itself and only told to ask that stub, not the system resolver.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import threading
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from tests.conftest import REPO_DIR
from tests.test_webcam_browser import _free_port, serve_web

REPLICA_HOSTS = ("127.0.0.1", "127.0.0.2")


class StubDns:
    """Answers every A question with ``addresses`` and every other question with no records (UDP)."""

    def __init__(self, addresses: tuple[str, ...]):
        self.addresses = addresses
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                query, client = self.sock.recvfrom(512)
            except OSError:  # closed
                return
            end = 12
            while query[end]:
                end += query[end] + 1
            question = query[12:end + 5]  # the name, its zero byte, type and class
            qtype = struct.unpack("!H", query[end + 1:end + 3])[0]
            answers = self.addresses if qtype == 1 else ()
            header = query[:2] + struct.pack("!HHHHH", 0x8180, 1, len(answers), 0, 0)
            records = b"".join(struct.pack("!HHHIH", 0xC00C, 1, 1, 5, 4) + socket.inet_aton(ip) for ip in answers)
            self.sock.sendto(header + question + records, client)

    def close(self):
        self.sock.close()


def caddy_binary() -> str:
    found = shutil.which("caddy")
    if not found:
        pytest.fail("caddy is missing; `make test` installs Debian's caddy package")
    return found


def _wait_for_port(host: str, port: int, process: subprocess.Popen, log: Path):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"caddy exited:\n{log.read_text()[-3000:]}")
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"caddy did not listen within 30 s:\n{log.read_text()[-3000:]}")


@contextmanager
def caddy_proxy(directory: Path, web_port: int, dns: str):
    """deploy/Caddyfile on plain HTTP, its upstreams looked up at ``dns``; yields its URL and log."""
    caddy = caddy_binary()
    port = _free_port()
    env = {**os.environ, "SITE_ADDRESS": f"http://127.0.0.1:{port}", "WEB_PORT": str(web_port),
           "CADDY_ADMIN": "off", "HOME": str(directory), "XDG_DATA_HOME": str(directory / "data"),
           "XDG_CONFIG_HOME": str(directory / "config")}
    adapted = subprocess.run([caddy, "adapt", "--config", str(REPO_DIR / "deploy" / "Caddyfile")],
                             env=env, capture_output=True, text=True, check=True)
    config = json.loads(adapted.stdout)
    for server in config["apps"]["http"]["servers"].values():
        for handler in _handlers(server["routes"]):
            if handler.get("handler") == "reverse_proxy":
                handler["dynamic_upstreams"]["resolver"] = {"addresses": [f"udp/{dns}"]}
    (directory / "caddy.json").write_text(json.dumps(config))
    log = directory / "caddy.log"
    with open(log, "wb") as output:
        process = subprocess.Popen([caddy, "run", "--config", str(directory / "caddy.json")], env=env,
                                   stdout=output, stderr=subprocess.STDOUT)
    try:
        _wait_for_port("127.0.0.1", port, process, log)
        yield f"http://127.0.0.1:{port}", log
    finally:
        process.terminate()
        process.wait(timeout=20)


def _handlers(routes):
    for route in routes:
        for handler in route.get("handle", []):
            yield handler
            yield from _handlers(handler.get("routes", []))


@contextmanager
def web_replicas_behind_proxy(directory: Path):
    """Two web replicas (as compose runs them, with access logs) behind Caddy.

    Yields the proxy's URL and each replica's log (access lines included), keyed by its address.
    """
    port = _free_port()
    dns = StubDns(REPLICA_HOSTS)
    access_logs = {}
    with ExitStack() as stack:
        stack.callback(dns.close)
        for host in REPLICA_HOSTS:
            replica_dir = directory / host
            replica_dir.mkdir()
            access_logs[host] = replica_dir / "web.log"
            stack.enter_context(serve_web(
                "http", replica_dir, host=host, port=port,
                options=("--proxy-headers", "--access-log"),
            ))
        url, _ = stack.enter_context(caddy_proxy(directory, port, dns.address))
        yield url, access_logs
