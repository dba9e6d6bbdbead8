"""Render test fixtures: the golden tenant in a fresh database, and `--regen-golden`."""

from __future__ import annotations

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
