"""A missing PostgreSQL, Chromium or network namespace skips a test locally and fails it under CI=true."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import require

CI_RUN = Path(__file__).resolve().parents[1] / ".ci" / "run"


@pytest.mark.parametrize("value", ["true", "1", "TRUE"])
def test_a_missing_facility_fails_in_ci(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match=r"PostgreSQL.*CI=true"):
        require(False, "PostgreSQL")


@pytest.mark.parametrize("value", [None, "", "false"])
def test_a_missing_facility_skips_outside_ci(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.skip.Exception, match="chromium is not available"):
        require(False, "chromium")
    require(True, "chromium")  # present: neither


def test_ci_run_installs_and_starts_what_the_tests_require() -> None:
    text = CI_RUN.read_text("utf-8")
    assert subprocess.run(["bash", "-n", str(CI_RUN)]).returncode == 0
    assert "export CI=true" in text
    for package in ("postgresql", "chromium", "fonts-ipafont-gothic"):
        assert f"missing+=({package})" in text, package
    assert "pg_ctlcluster" in text and "pg_isready -h 127.0.0.1 -p 5432" in text
    assert text.rstrip().endswith("make test")
