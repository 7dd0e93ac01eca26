"""``sequencer report``: the HTML report of a small real cohort run, and its error paths."""

from __future__ import annotations

import base64
import csv
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sequencer.cli import app
from tests.conftest import start_shared_ray

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FIGURES = ("survival", "ce_plane", "ceac", "evppi", "flow")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A finished cohort study: 2 strategies (+ optimal-mean), 4 draws of 300 patients."""
    start_shared_ray()  # the command runs on the session's Ray
    out = tmp_path_factory.mktemp("cohort") / "run"
    result = CliRunner().invoke(app, [
        "cohort", "--out", str(out), "--strategies", "optimal,toga-era", "--draws", "4",
        "--patients", "300", "--chunk", "300", "--workers", "1", "--quiet"])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def reported(run_dir: Path):
    result = CliRunner().invoke(app, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def test_report_html_is_self_contained(run_dir, reported, summary):
    path = run_dir / "report" / "report.html"
    assert reported.output.strip() == str(path)
    text = path.read_text()
    for name in summary["strategies"]:
        assert name in text
    assert summary["provenance"]["evidence_sha256"] in text
    assert summary["provenance"]["parameters_sha256"] in text
    assert "not a prescription" in text
    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text)
    assert len(images) == 5  # with 4 draws (too few for EVPPI) the EVPPI figure is a note
    assert all(base64.b64decode(img).startswith(PNG_MAGIC) for img in images)
    assert "EVPPI needs at least 50 draws" in text or summary.get("evppi")


def test_report_files(run_dir, reported):
    import matplotlib.image

    folder = run_dir / "report"
    for stem in FIGURES:
        assert (folder / f"{stem}.png").read_bytes().startswith(PNG_MAGIC)
        assert matplotlib.image.imread(folder / f"{stem}.png").ndim == 3
    for stem in ("headline", "incremental", "ceac", "evppi"):
        assert (folder / f"{stem}.csv").is_file()
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".report")]


def test_headline_csv_matches_summary(run_dir, reported, summary):
    with (run_dir / "report" / "headline.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["strategy"] for r in rows] == list(summary["strategies"])
    for row in rows:
        want = summary["strategies"][row["strategy"]]["qaly_disc"]["mean"]
        assert float(row["qaly_disc_mean"]) == pytest.approx(want, rel=1e-12)


def test_report_replaces_an_old_report(run_dir, reported):
    (run_dir / "report" / "stale.txt").write_text("old")
    result = CliRunner().invoke(app, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert not (run_dir / "report" / "stale.txt").exists()
    assert (run_dir / "report" / "report.html").is_file()


def test_missing_summary_names_the_file_and_the_command(tmp_path):
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert "summary.json" in result.output
    assert "sequencer cohort" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_corrupt_or_incomplete_summary(tmp_path, summary):
    (tmp_path / "summary.json").write_text("{not json")
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert "summary.json" in result.output and "not valid JSON" in result.output
    (tmp_path / "summary.json").write_text(json.dumps({"spec": {}}))  # no schema version
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert "'schema_version' is missing" in result.output
    incomplete = json.loads(json.dumps(summary))
    del incomplete["strategies"]["toga-era"]["median_os_months"]
    (tmp_path / "summary.json").write_text(json.dumps(incomplete))
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert "'strategies.toga-era.median_os_months' is missing" in result.output
    assert "sequencer cohort" in result.output
    assert not (tmp_path / "report").exists()
