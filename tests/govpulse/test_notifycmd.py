"""``govpulse notify --check``: the routes file validated and listed, or refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from govpulse.cli import main


def test_check_lists_the_packaged_routes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["notify", "--check"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("routes file ") and out[0].endswith("notify/data/routes.toml: ok")
    assert out[5].startswith("  route.routes.3.routes.1: receiver=leaders-push group_by=unit group_wait=10s ")
    assert out[-2:] == ["  receiver leaders-push: webpush", "  receiver units-push: webpush"]


def test_check_refuses_a_bad_file_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "routes.toml"
    path.write_text("[route]\nreceiver = 1\n", encoding="utf-8")
    monkeypatch.setenv("GOVPULSE_ROUTES_FILE", str(path))
    assert main(["notify", "--check"]) == 2
    assert capsys.readouterr().err == (
        f"govpulse notify: routes file {path}: [receivers]: no receiver is defined; "
        'add [receivers.ops] with type = "webhook" and url = "…"\n'
    )
