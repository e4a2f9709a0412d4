"""Redis over TLS: a real redis-server started with --tls-port and a CA made by the test; the
platform's client verifies the server and presents its client certificate, and a client
without the CA, or without a certificate, is refused."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import redis

from backend.core.settings import RedisSettings
from backend.devtools.redis_server import free_port
from tests.support.tls import make_pki
from tests.support.waiting import wait_for

REDIS = shutil.which("redis-server")


@pytest.mark.skipif(REDIS is None, reason="redis-server is not installed")
def test_platform_client_talks_tls_with_ca_and_client_certificate(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    port = free_port()
    server = subprocess.Popen(
        [str(REDIS), "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", str(pki["server"].with_suffix(".crt")),
         "--tls-key-file", str(pki["server"].with_suffix(".key")),
         "--tls-ca-cert-file", str(pki["ca"].with_suffix(".crt")),
         "--tls-auth-clients", "yes", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        url = f"rediss://127.0.0.1:{port}/0"
        tls = RedisSettings(
            url=url,
            tls_ca_file=pki["ca"].with_suffix(".crt"),
            tls_cert_file=pki["client"].with_suffix(".crt"),
            tls_key_file=pki["client"].with_suffix(".key"),
        )

        def client(**options: Any) -> redis.Redis:
            return redis.Redis.from_url(url, socket_timeout=5, **options)

        def answers() -> bool:
            try:
                return bool(client(**tls.tls_options()).ping())
            except redis.ConnectionError:
                return server.poll() is None and False

        wait_for(answers, 20, "the TLS redis-server")
        good = client(**tls.tls_options())
        good.set("ltq:tls", "ok")
        assert good.get("ltq:tls") == b"ok"
        no_cert = RedisSettings(url=url, tls_ca_file=pki["ca"].with_suffix(".crt"))
        with pytest.raises(redis.ConnectionError):
            client(**no_cert.tls_options()).ping()
        unknown_ca = RedisSettings(url=url)  # the system CAs do not know our test CA
        with pytest.raises(redis.ConnectionError):
            client(**unknown_ca.tls_options()).ping()
        with pytest.raises(redis.ConnectionError):  # plain text to the TLS port
            redis.Redis(port=port, socket_timeout=2).ping()
    finally:
        server.terminate()
        server.wait(10)
