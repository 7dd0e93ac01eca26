"""The atomic write helpers: a writer that fails leaves the old file or folder as it was and no
temporary file behind; a writer that succeeds replaces the target whole."""

from __future__ import annotations

import os

import pytest

from sequencer.io import atomic_directory, write_atomic, write_text_atomic


class WriterFailed(RuntimeError):
    pass


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "summary.json"
    target.write_text("old contents")

    def half_write(tmp):
        tmp.write_text("new, but only half")
        raise WriterFailed("disk full")

    with pytest.raises(WriterFailed):
        write_atomic(target, half_write)
    assert target.read_text() == "old contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


def test_a_writer_replaces_the_file_with_the_usual_mode(tmp_path):
    target = tmp_path / "sub" / "table.csv"  # the folder is created
    write_atomic(target, lambda tmp: tmp.write_bytes(b"a,b\n1,2\n"))
    write_text_atomic(target, "a,b\n3,4\n")
    assert target.read_text() == "a,b\n3,4\n"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    assert [p.name for p in target.parent.iterdir()] == ["table.csv"]


def test_a_failing_directory_build_leaves_the_old_folder(tmp_path):
    report = tmp_path / "report"
    report.mkdir()
    (report / "report.html").write_text("old report")
    with pytest.raises(WriterFailed), atomic_directory(report) as tmp:
        (tmp / "report.html").write_text("new report, half done")
        raise WriterFailed("figure failed")
    assert [p.name for p in report.iterdir()] == ["report.html"]
    assert (report / "report.html").read_text() == "old report"
    assert [p.name for p in tmp_path.iterdir()] == ["report"]


def test_a_directory_build_replaces_the_old_folder_whole(tmp_path):
    report = tmp_path / "report"
    report.mkdir()
    (report / "stale.txt").write_text("from the last run")
    with atomic_directory(report) as tmp:
        (tmp / "report.html").write_text("new report")
    assert [p.name for p in report.iterdir()] == ["report.html"]
    assert [p.name for p in tmp_path.iterdir()] == ["report"]  # no old or temporary folder
