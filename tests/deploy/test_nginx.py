"""deploy/nginx/market.conf, run by Debian's nginx in front of a real ``market serve``.

The file is used as shipped, with only what docs/DEPLOY.md says to change pointed at this test:
the worker address, the ports, the certificate (made here, self-signed) and the log directory.
It sits in an http block like Debian's own nginx.conf (which also turns gzip on and sets
ssl_protocols), and nginx runs in the foreground with a prefix of its own.

Through it: ``nginx -t`` accepts the file; HTTP is sent to HTTPS; a sign-in over TLS gets Secure
cookies from a worker reached over plain HTTP (X-Forwarded-Proto honoured), while the same sign-in
straight at the worker does not; the worker logs the client's address, not nginx's
(X-Forwarded-For honoured); static files get their browser caching; an upload nginx lets through is
refused by the app in its own words, and one far too large by nginx without reading it.
"""

import datetime
import ipaddress
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bench.checkin_load import ADMIN_PASSWORD, ADMIN_PHONE, REPO, free_port, market_serve
from tests.deploy.support import SERVER_KEY, fresh_database

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CONF = REPO / "deploy" / "nginx" / "market.conf"
#: Where the test's requests come from: another loopback address than nginx's own.
CLIENT_ADDRESS = "127.0.0.3"
SIGN_IN = {"login": ADMIN_PHONE, "secret": ADMIN_PASSWORD}


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "jifen.example.cn")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert, private = directory / "fullchain.pem", directory / "privkey.pem"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return cert, private


def for_this_test(conf: str, *, worker: str, http_port: int, https_port: int, cert: Path, key: Path,
                  logs: Path) -> str:
    """The shipped file with the lines an installer changes pointed at this test; each must match."""
    changes = [
        (r"^    server 10\.0\.0\.11:8000 (.*)$", rf"    server {worker} \1"),
        (r"^    server 10\.0\.0\.12:8000 .*\n", ""),
        (r"^    listen 80;$", f"    listen 127.0.0.1:{http_port};"),
        (r"^    listen \[::\]:80;\n", ""),
        (r"^    listen 443 ssl http2;$", f"    listen 127.0.0.1:{https_port} ssl http2;"),
        (r"^    listen \[::\]:443 ssl http2;\n", ""),
        (r"ssl_certificate     \S+;", f"ssl_certificate     {cert};"),
        (r"ssl_certificate_key \S+;", f"ssl_certificate_key {key};"),
        (r"/var/log/nginx/", f"{logs}/"),
    ]
    for pattern, replacement in changes:
        conf, count = re.subn(pattern, replacement, conf, flags=re.MULTILINE)
        assert count, f"deploy/nginx/market.conf no longer has {pattern!r}: update this test and DEPLOY.md"
    return conf


def main_conf(prefix: Path, site: Path) -> str:
    """An nginx.conf like Debian's, including the site as Debian includes conf.d/*.conf."""
    temp = "\n".join(f"    {kind}_temp_path {prefix}/{kind};" for kind in
                     ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    # Workers of a root master run as `user`; the test's files are its own, so keep root.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""{user}worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 64; }}
http {{
    sendfile on;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    ssl_protocols TLSv1.2 TLSv1.3;
    access_log {prefix}/access.log;
    gzip on;
{temp}
    include {site};
}}
"""


@contextmanager
def nginx_in_front(worker_url: str, prefix: Path) -> Iterator[tuple[int, int, Path]]:
    """nginx with the shipped site in front of ``worker_url``; (http port, https port, cert)."""
    prefix.mkdir()
    cert, key = self_signed(prefix)
    http_port, https_port = free_port(), free_port()
    site = prefix / "market.conf"
    site.write_text(for_this_test(CONF.read_text(encoding="utf-8"), worker=worker_url.split("//")[1],
                                  http_port=http_port, https_port=https_port, cert=cert, key=key,
                                  logs=prefix), encoding="utf-8")
    conf = prefix / "nginx.conf"
    conf.write_text(main_conf(prefix, site), encoding="utf-8")
    command = [NGINX, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]

    checked = subprocess.run([*command, "-t"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr

    process = subprocess.Popen([*command, "-g", "daemon off;"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while True:
            assert process.poll() is None, (prefix / "error.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", https_port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "nginx did not listen"
                time.sleep(0.05)
        yield http_port, https_port, cert
    finally:
        process.send_signal(signal.SIGQUIT)  # graceful: finish what is in flight
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def cookies_of(response: httpx.Response) -> dict[str, str]:
    """Each Set-Cookie by cookie name."""
    return {header.split("=", 1)[0]: header for header in response.headers.get_list("set-cookie")}


def secure(cookie: str) -> bool:
    return "secure" in (attribute.strip().lower() for attribute in cookie.split(";")[1:])


def announce_only(port: int, cert: Path, length: int) -> str:
    """The status line nginx answers to a request that only announces a body of ``length`` bytes."""
    trusting = ssl.create_default_context(cafile=str(cert))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            trusting.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(f"PUT /api/products/1/photo HTTP/1.1\r\nHost: jifen.example.cn\r\n"
                    f"Content-Type: image/jpeg\r\nContent-Length: {length}\r\n\r\n".encode())
        return tls.recv(4096).decode("latin-1").split("\r\n", 1)[0]


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[str]:
    """A worker as deploy/systemd runs one behind the proxy: it trusts the proxy's headers."""
    behind_a_proxy = SERVER_KEY | {"MARKET_TRUST_PROXY": "1", "FORWARDED_ALLOW_IPS": "127.0.0.1",
                                   "MARKET_BASE_URL": None}
    with fresh_database(tmp_path / "db") as url, \
            market_serve(url, tmp_path / "db", environment=behind_a_proxy) as server:
        yield server.url


def test_the_shipped_nginx_config_in_front_of_market_serve(tmp_path: Path, worker: str) -> None:
    with nginx_in_front(worker, tmp_path / "nginx") as (http_port, https_port, cert):
        public = f"https://127.0.0.1:{https_port}"
        trusting = ssl.create_default_context(cafile=str(cert))
        from_elsewhere = httpx.HTTPTransport(local_address=CLIENT_ADDRESS, verify=trusting)
        with httpx.Client(base_url=public, transport=from_elsewhere, timeout=30) as client:
            redirected = httpx.get(f"http://127.0.0.1:{http_port}/shop?x=1", follow_redirects=False)
            assert redirected.status_code == 301
            assert redirected.headers["location"] == "https://127.0.0.1/shop?x=1"

            signed_in = client.post("/api/session", json=SIGN_IN)
            assert signed_in.status_code == 200, signed_in.text
            over_tls = cookies_of(signed_in)
            assert over_tls and all(secure(cookie) for cookie in over_tls.values())
            straight = httpx.post(f"{worker}/api/session", json=SIGN_IN)
            assert straight.status_code == 200
            assert cookies_of(straight).keys() == over_tls.keys()
            assert not any(secure(cookie) for cookie in cookies_of(straight).values())
            # Over TLS the app adds HSTS (it believes nginx's X-Forwarded-Proto), once; straight, not.
            page = client.get("/signin")
            assert page.headers.get_list("strict-transport-security") == ["max-age=31536000"]
            assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
            assert "strict-transport-security" not in httpx.get(f"{worker}/signin").headers

            token = signed_in.json()["token"]
            client.headers["Authorization"] = f"Bearer {token}"
            me = client.get("/api/me", headers={"X-Forwarded-For": "6.6.6.6"})  # a client's lie
            assert me.status_code == 200
            log = (Path(tmp_path / "db") / "server.log").read_text(encoding="utf-8")
            proxied = [line for line in log.splitlines() if '"GET /api/me HTTP/1.1" 200' in line]
            assert proxied and proxied[-1].split()[1].startswith(f"{CLIENT_ADDRESS}:"), proxied

            versioned = client.get("/static/market.css?v=0123456789")
            assert versioned.status_code == 200 and "max-age=31536000" in versioned.headers["cache-control"]
            plain = client.get("/static/market.css")
            assert plain.status_code == 200 and "max-age=3600" in plain.headers["cache-control"]

            product = client.post("/api/products", json={"name": "毛巾", "price": "3.00", "stock": 5})
            assert product.status_code == 201, product.text
            photo = b"\xff\xd8\xff" + b"\0" * (8 * 2**20)  # a phone's 8 MB photo: nginx lets it through
            refused = client.put(f"/api/products/{product.json()['id']}/photo",
                                 files={"file": ("photo.jpg", photo, "image/jpeg")})
            assert refused.status_code == 413
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert refused.json()["reason"] == "photo_too_large"
        assert announce_only(https_port, cert, 17 * 2**20).startswith("HTTP/1.1 413")
