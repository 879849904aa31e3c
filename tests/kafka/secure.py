"""A broker of the secure-transport tests: the PLAINTEXT listener (super user, for setting up) and a SASL_SSL one
(SCRAM-SHA-512 over TLS, certificates made here with openssl, Kafka's StandardAuthorizer), started by
infra/kafka/kafka.sh on free ports with a data directory of its own."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.kafka_broker import SCRIPT, free_port

# One SCRAM user per service principal (infra/kafka/acls.yaml), plus an admin that is a super user.
USERS = {
    "admin": "admin-Secret-1",
    "worker": "worker-Secret-2",
    "producer": "producer-Secret-3",
    "archiver": "archiver-Secret-4",
    "detector": "detector-Secret-5",
    "console": "console-Secret-6",
}


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=60)


def make_ca(tls: Path, name: str) -> tuple[Path, Path]:
    """A self-signed CA: (certificate, key) PEM files."""
    cert, key = tls / f"{name}.crt", tls / f"{name}.key"
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
             "-subj", f"/CN={name}", "-keyout", key, "-out", cert)  # fmt: skip
    return cert, key


def make_broker_cert(tls: Path, ca: tuple[Path, Path]) -> Path:
    """broker.pem: the broker's PKCS#8 key and its certificate for 127.0.0.1/localhost, signed by `ca` (the form
    Kafka's ssl.keystore.type=PEM reads)."""
    key, csr, cert = tls / "broker.key", tls / "broker.csr", tls / "broker.crt"
    ext = tls / "broker.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=localhost",
             "-keyout", key, "-out", csr)  # fmt: skip
    _openssl("x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial", "-days", "2",
             "-extfile", ext, "-out", cert)  # fmt: skip
    pem = tls / "broker.pem"
    pem.write_text(key.read_text() + cert.read_text() + ca[0].read_text())
    return pem


@dataclass
class SecureBroker:
    data: Path
    tls: Path
    port: int
    sasl_ssl_port: int
    controller_port: int

    @property
    def plaintext(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def sasl_ssl(self) -> str:
        return f"127.0.0.1:{self.sasl_ssl_port}"

    @property
    def ca(self) -> Path:
        return self.tls / "ca.crt"

    @property
    def rogue_ca(self) -> Path:
        """A CA that did not sign the broker's certificate."""
        return self.tls / "rogue-ca.crt"

    def _run(self, verb: str) -> None:
        env = dict(
            os.environ,
            KAFKA_PORT=str(self.port),
            KAFKA_ADVERTISED_PORT=str(self.port),
            KAFKA_CONTROLLER_PORT=str(self.controller_port),
            KAFKA_DATA=str(self.data),
            KAFKA_SASL_SSL_PORT=str(self.sasl_ssl_port),
            KAFKA_TLS_DIR=str(self.tls),
            KAFKA_SCRAM_USERS=" ".join(f"{user}={password}" for user, password in USERS.items()),
            KAFKA_SUPER_USERS="User:admin",
        )
        subprocess.run([str(SCRIPT), verb], check=True, env=env, timeout=240)

    def up(self) -> None:
        self._run("up")

    def down(self) -> None:
        self._run("down")


def secure_broker(root: Path) -> SecureBroker:
    """Certificates (a CA, the broker's, and a rogue CA) and a broker that is not started yet."""
    tls = root / "tls"
    tls.mkdir(parents=True)
    ca = make_ca(tls, "ca")
    make_broker_cert(tls, ca)
    make_ca(tls, "rogue-ca")
    return SecureBroker(root / "data", tls, free_port(), free_port(), free_port())
