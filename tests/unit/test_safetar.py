"""Extracting a tar never writes outside its destination, with the stdlib filter (3.11.4+) and
without it (Debian 12's python3 is 3.11.2): each test runs on both code paths."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runner.harness import repolocal, safetar
from runner.targets import backup

Entry = Callable[[tarfile.TarFile], None]


@pytest.fixture(params=["stdlib filter", "fallback"])
def code_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "stdlib filter":
        if not hasattr(tarfile, "data_filter"):
            pytest.skip("this Python has no extractall(filter=) (before 3.11.4)")
        monkeypatch.setattr(safetar, "HAS_FILTER", True)
    else:
        monkeypatch.setattr(safetar, "HAS_FILTER", False)
    yield request.param


def _file(name: str, data: bytes = b"x", mode: int = 0o644) -> Entry:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), mode
        tar.addfile(info, io.BytesIO(data))
    return add


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> Entry:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, target
        tar.addfile(info)
    return add


def _special(name: str, kind: bytes) -> Entry:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.devmajor, info.devminor = kind, 1, 3
        tar.addfile(info)
    return add


def _tar(*entries: Entry) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for entry in entries:
            entry(tar)
    return buf.getvalue()


def _volume(data: bytes, dest: Path) -> None:
    """The backup's path: a streamed tar, as `get_archive` hands it over."""
    backup._extract([data[i:i + 512] for i in range(0, len(data), 512)], dest)


def _data(data: bytes, dest: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        safetar.extract_data(tar, dest)


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    (tmp_path / "dest").mkdir()
    (tmp_path / "outside").mkdir()
    return tmp_path / "dest"


ESCAPES = {
    "absolute path": lambda out: _tar(_file(str(out / "abs.txt"))),
    "dot-dot path": lambda out: _tar(_file("../outside/dotdot.txt")),
    "file through a symlink out of dest": lambda out: _tar(_link("hop", str(out)), _file("hop/through.txt")),
    "hard link to a file out of dest": lambda out: _tar(_link("hard", "../outside/victim.txt", tarfile.LNKTYPE),
                                                        _file("hard", b"overwritten")),
}


@pytest.mark.parametrize("extract", [_volume, _data], ids=["backup (volume)", "repo-local (data)"])
@pytest.mark.parametrize("case", sorted(ESCAPES))
def test_a_member_that_would_land_outside_dest_is_refused_and_nothing_is_written_there(
        code_path: str, extract: Callable[[bytes, Path], None], case: str, dest: Path) -> None:
    outside = dest.parent / "outside"
    (outside / "victim.txt").write_text("untouched")
    with pytest.raises((safetar.UnsafeMember, tarfile.TarError)):
        extract(ESCAPES[case](outside), dest)
    assert sorted(p.name for p in outside.iterdir()) == ["victim.txt"]
    assert (outside / "victim.txt").read_text() == "untouched"


@pytest.mark.parametrize("link", ["/etc", "../../outside"])
def test_repo_local_files_may_not_link_out_of_dest(code_path: str, link: str, dest: Path) -> None:
    with pytest.raises((safetar.UnsafeMember, tarfile.TarError)):
        _data(_tar(_link("cc-ci/escape", link)), dest)
    assert not (dest / "cc-ci" / "escape").is_symlink()


@pytest.mark.parametrize("kind", [tarfile.CHRTYPE, tarfile.FIFOTYPE], ids=["device", "fifo"])
def test_repo_local_files_may_not_be_devices_or_fifos(code_path: str, kind: bytes, dest: Path) -> None:
    with pytest.raises((safetar.UnsafeMember, tarfile.TarError)):
        _data(_tar(_special("node", kind)), dest)
    assert not os.path.lexists(dest / "node")


def test_repo_local_files_lose_setuid_and_group_write(code_path: str, dest: Path) -> None:
    _data(_tar(_file("run.sh", mode=0o4775), _file("plain.txt", mode=0o444)), dest)
    assert stat.S_IMODE((dest / "run.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "plain.txt").stat().st_mode) == 0o644


def test_a_volume_is_kept_as_it_was_symlinks_modes_and_fifos_included(code_path: str, dest: Path) -> None:
    _volume(_tar(_file("data/secret", mode=0o600), _link("data/localtime", "/etc/localtime"),
                 _link("data/rel", "../data/secret"), _special("data/pipe", tarfile.FIFOTYPE)), dest)
    assert stat.S_IMODE((dest / "data" / "secret").stat().st_mode) == 0o600
    assert os.readlink(dest / "data" / "localtime") == "/etc/localtime"  # stored, never followed
    assert (dest / "data" / "rel").read_bytes() == b"x"
    assert stat.S_ISFIFO((dest / "data" / "pipe").lstat().st_mode)


def test_an_approved_cc_ci_folder_with_a_symlink_out_is_refused(code_path: str, tmp_path: Path) -> None:
    """Through the gate's own extraction: a recipe repo can commit a symlink pointing anywhere."""
    repo = tmp_path / "recipe"
    (repo / "cc-ci").mkdir(parents=True)
    (repo / "cc-ci" / "test_install.py").write_text("def test_ok():\n    pass\n")
    os.symlink("/etc", repo / "cc-ci" / "etc")
    for args in (["init", "-q"], ["add", "."], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"]):
        subprocess.run(["git", "-C", str(repo), *args], check=True)
    tree = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD:cc-ci"], check=True,
                          capture_output=True, text=True).stdout.strip()
    (tmp_path / "tests" / "recipe").mkdir(parents=True)
    with pytest.raises((safetar.UnsafeMember, tarfile.TarError)):
        repolocal._extract(repo, tree, tmp_path / "tests" / "recipe")
    assert not (tmp_path / "tests" / "recipe" / "etc").is_symlink()
