"""Render test fixtures: the golden tenant in a fresh database, `--regen-golden`, and an
operator's own TLS certificate for the install scripts' --tls-cert/--tls-key."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.render.factories import Golden, build_golden


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--regen-golden",
        action="store_true",
        default=False,
        help="rewrite tests/golden/ from the current renderers instead of comparing (review the diff)",
    )


@pytest.fixture()
def golden(session) -> Golden:  # type: ignore[no-untyped-def]
    built = build_golden(session)
    session.commit()
    return built


@pytest.fixture()
def operator_certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate and private key (PEM) of the operator's own, as install.sh --tls-cert and
    --tls-key take them."""
    cert, key = tmp_path / "site.crt", tmp_path / "site.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=pbx.example"]
        + ["-keyout", str(key), "-out", str(cert)],
        capture_output=True,
        check=True,
    )
    return cert, key
