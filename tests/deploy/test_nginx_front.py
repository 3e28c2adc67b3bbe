"""``deploy/nginx.conf`` in front of gunicorn: slow clients no longer starve the service.

Defect found by a hostile run (issue 13, item 7): 16 connections sending one byte a second held
every gunicorn thread, and ``/healthz`` timed out. This test first shows the starvation against
gunicorn alone (so the probe is known to bite), then runs the same probe through nginx started
with the shipped configuration file, and expects ``/healthz`` to answer within 2 s.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bot.config import PROJECT_ROOT
from tests.faults import free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SLOW_CLIENTS = 16
pytestmark = pytest.mark.skipif(
    not os.path.exists(NGINX), reason="nginx is not installed (.ci/run installs Debian's nginx)"
)


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "fullchain.pem", folder / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _wait(url: str, process: subprocess.Popen[bytes], **kwargs: object) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{process.args!r} exited"
        try:
            if requests.get(url, timeout=1, **kwargs).status_code == 200:  # type: ignore[arg-type]
                return
        except requests.RequestException:
            time.sleep(0.2)
    raise AssertionError(f"{url} never answered")


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[str]:
    """gunicorn with one worker of two threads, on its own SQLite file; yields its address."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANGZHENG_")}
    env.update(
        WANGZHENG_ENV="testing",
        WANGZHENG_INSTANCE_PATH=str(tmp_path / "instance"),
        WANGZHENG_BIND=f"127.0.0.1:{port}",
        WANGZHENG_WORKERS="1",
        WANGZHENG_THREADS="2",
        WANGZHENG_TRUSTED_PROXIES="1",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
    )
    flask = [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"]
    subprocess.run(flask, cwd=PROJECT_ROOT, env=env, check=True, capture_output=True)
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
    with (tmp_path / "gunicorn.log").open("wb") as log:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=log)
        try:
            _wait(f"http://127.0.0.1:{port}/healthz", process)
            yield f"127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(timeout=30)


def _nginx_config(tmp_path: Path, upstream: str) -> tuple[Path, int]:
    """The shipped file with only ports, certificate, pid and log paths moved into tmp_path."""
    cert, key = _certificate(tmp_path)
    https_port, http_port = free_port(), free_port()
    text = (PROJECT_ROOT / "deploy" / "nginx.conf").read_text()
    replacements = {
        "server 127.0.0.1:8000;": f"server {upstream};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "/etc/wangzheng/tls/fullchain.pem": str(cert),
        "/etc/wangzheng/tls/privkey.pem": str(key),
        "/run/nginx-wangzheng.pid": str(tmp_path / "nginx.pid"),
        "/var/log/nginx/wangzheng-error.log": str(tmp_path / "nginx-error.log"),
        "/var/log/nginx/wangzheng-access.log": str(tmp_path / "nginx-access.log"),
    }
    for old, new in replacements.items():
        assert old in text, f"deploy/nginx.conf no longer contains {old!r}"
        text = text.replace(old, new)
    config = tmp_path / "nginx.conf"
    config.write_text(text)
    return config, https_port


class SlowClients:
    """Connections that send a request header one byte every half second and never finish it."""

    def __init__(self, host: str, port: int, count: int, tls: bool) -> None:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        self.sockets: list[socket.socket] = []
        for _ in range(count):
            raw = socket.create_connection((host, port), timeout=5)
            conn = context.wrap_socket(raw, server_hostname=host) if tls else raw
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            self.sockets.append(conn)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._trickle, daemon=True)
        self.thread.start()

    def _trickle(self) -> None:
        while not self.stop.wait(0.5):
            for conn in self.sockets:
                try:
                    conn.sendall(b"a")
                except OSError:
                    pass  # the server gave up on this one; that is what nginx should do

    def close(self) -> None:
        """Stop trickling and hang up."""
        self.stop.set()
        self.thread.join()
        for conn in self.sockets:
            conn.close()


def _healthz_within(url: str, seconds: float, **kwargs: object) -> bool:
    try:
        response = requests.get(url, timeout=seconds, **kwargs)  # type: ignore[arg-type]
    except requests.RequestException:
        return False
    return response.status_code == 200


def test_slow_clients_starve_gunicorn_alone_but_not_behind_nginx(
    gunicorn: str, tmp_path: Path
) -> None:
    host, port = gunicorn.split(":")
    direct = f"http://{gunicorn}/healthz"
    probe = SlowClients(host, int(port), SLOW_CLIENTS, tls=False)
    try:
        time.sleep(1)  # let the first bytes reach gunicorn's threads
        assert not _healthz_within(direct, 2), "the probe did not starve gunicorn: test is blind"
    finally:
        probe.close()
    deadline = time.monotonic() + 30
    while not _healthz_within(direct, 2):
        assert time.monotonic() < deadline, "gunicorn did not recover after the probe"

    config, https_port = _nginx_config(tmp_path, gunicorn)
    nginx_log = (tmp_path / "nginx-stderr.log").open("wb")
    nginx = subprocess.Popen(  # the system nginx with our test config
        [NGINX, "-c", str(config), "-p", str(tmp_path), "-g", "daemon off;"],
        stdout=nginx_log,
        stderr=nginx_log,
    )
    front = f"https://127.0.0.1:{https_port}"
    cert = str(tmp_path / "fullchain.pem")
    try:
        _wait(front + "/healthz", nginx, verify=cert)
        probe = SlowClients("127.0.0.1", https_port, SLOW_CLIENTS, tls=True)
        try:
            time.sleep(1)
            started = time.monotonic()
            response = requests.get(front + "/healthz", timeout=2, verify=cert)
            elapsed = time.monotonic() - started
        finally:
            probe.close()
        assert response.status_code == 200 and elapsed < 2
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")
        assert requests.get(front + "/metrics", timeout=2, verify=cert).status_code == 404
        too_big = requests.post(
            front + "/api/v1/verify", data=b"x" * (9 * 1024 * 1024), timeout=10, verify=cert
        )
        assert too_big.status_code == 413
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        nginx_log.close()
