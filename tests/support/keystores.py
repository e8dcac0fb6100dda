"""Test certificates made with the JDK's ``keytool``: a CA, a broker key and certificate
signed by it (for 127.0.0.1 and localhost) in a PKCS12 keystore, and the CA as PEM for
librdkafka (which cannot read Java keystores)."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

#: EC keys: keytool's RSA key generation is slow on a busy machine, and TLS 1.3 accepts both
KEY_ARGS = ("-keyalg", "EC", "-groupname", "secp256r1")
#: a short-lived JVM per call: C1 only and the serial collector start it faster
JVM_ARGS = ("-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC")
#: the names the client checks the broker's certificate against (librdkafka verifies them)
BROKER_SAN = "SAN=IP:127.0.0.1,DNS:localhost"


@dataclass(frozen=True)
class BrokerKeys:
    keystore: Path  # PKCS12: the broker's key, its certificate and the CA's
    keystore_password: str = field(repr=False)
    ca_pem: Path  # the CA that signed the broker's certificate


def keytool() -> str | None:
    return shutil.which("keytool")


def _run(*args: str, password: str) -> None:
    # the store password goes by environment, not on a command line other users can see
    proc = subprocess.run(
        [keytool() or "keytool", *JVM_ARGS, *args, "-storepass:env", "STOREPASS", "-noprompt"],
        env={**os.environ, "STOREPASS": password},
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"keytool {args[0]} failed: {proc.stdout}{proc.stderr}")


def make_ca(folder: Path, name: str) -> Path:
    """A self-signed CA in ``folder/name.p12``; returns its certificate as PEM."""
    folder.mkdir(parents=True, exist_ok=True)
    store, pem = folder / f"{name}.p12", folder / f"{name}.pem"
    password = _ca_password(folder, name)
    _run(
        "-genkeypair",
        "-alias",
        "ca",
        *KEY_ARGS,
        "-dname",
        f"CN={name}",
        "-ext",
        "bc:c",
        "-validity",
        "2",
        "-keystore",
        str(store),
        "-storetype",
        "PKCS12",
        password=password,
    )
    _run(
        "-exportcert",
        "-rfc",
        "-alias",
        "ca",
        "-keystore",
        str(store),
        "-file",
        str(pem),
        password=password,
    )
    return pem


def _ca_password(folder: Path, name: str) -> str:
    """A CA store's password, made once and kept beside it (only the signing step needs it)."""
    path = folder / f"{name}.storepass"
    if not path.exists():
        path.write_text(uuid.uuid4().hex)
    return path.read_text()


def make_broker_keys(folder: Path) -> BrokerKeys:
    """A CA and a broker keystore whose certificate the CA signed (CSR, then gencert)."""
    ca_pem = make_ca(folder, "test-ca")
    ca_store, ca_password = folder / "test-ca.p12", _ca_password(folder, "test-ca")
    store, password = folder / "broker.p12", uuid.uuid4().hex
    csr, crt = folder / "broker.csr", folder / "broker.crt"
    common = ("-keystore", str(store), "-storetype", "PKCS12")
    _run(
        "-genkeypair",
        "-alias",
        "broker",
        *KEY_ARGS,
        "-dname",
        "CN=127.0.0.1",
        "-ext",
        BROKER_SAN,
        "-validity",
        "2",
        *common,
        password=password,
    )
    _run("-certreq", "-alias", "broker", "-file", str(csr), *common, password=password)
    _run(
        "-gencert",
        "-alias",
        "ca",
        "-keystore",
        str(ca_store),
        "-infile",
        str(csr),
        "-outfile",
        str(crt),
        "-rfc",
        "-ext",
        BROKER_SAN,
        "-validity",
        "2",
        password=ca_password,
    )
    # the chain back to the CA first, then the signed certificate replaces the self-signed one
    _run("-importcert", "-alias", "ca", "-file", str(ca_pem), *common, password=password)
    _run("-importcert", "-alias", "broker", "-file", str(crt), *common, password=password)
    return BrokerKeys(store, password, ca_pem)
