"""Extracting a tar never writes outside its destination, in both modes (a repo's data, a volume's
contents) and on every Python cc-ci supports (scripts/test runs this file again under Debian 12's
python3 3.11.2, which lacks extractall(filter=)).

The hostile corpus: every member that could land, or point, outside dest is refused with the
guard's own error naming it, and nothing outside dest changes (the whole tree beside dest is
compared before and after)."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runner.maintainer import repolocal
from runner.plumbing import safetar
from runner.swarm import backup

Entry = Callable[[tarfile.TarFile], None]
MTIME = 1_700_000_000


def _file(name: str, data: bytes = b"x", mode: int = 0o644, mtime: int = MTIME, uid: int = 0) -> Entry:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime, info.uid, info.gid = len(data), mode, mtime, uid, uid
        tar.addfile(info, io.BytesIO(data))
    return add


def _dir(name: str, mode: int = 0o755, mtime: int = MTIME) -> Entry:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, mtime
        tar.addfile(info)
    return add


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> Entry:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.linkname, info.mtime = kind, target, MTIME
        tar.addfile(info)
    return add


def _hard(name: str, target: str) -> Entry:
    return _link(name, target, tarfile.LNKTYPE)


def _special(name: str, kind: bytes) -> Entry:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.devmajor, info.devminor = kind, 1, 3
        tar.addfile(info)
    return add


def _tar(*entries: Entry) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            entry(tar)
    return buf.getvalue()


def _volume(data: bytes, dest: Path) -> None:
    """The backup's path: a streamed tar, as `get_archive` hands it over."""
    backup._extract([data[i:i + 512] for i in range(0, len(data), 512)], dest)


def _data(data: bytes, dest: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        safetar.extract_data(tar, dest)


MODES = pytest.mark.parametrize("extract", [_volume, _data], ids=["volume", "data"])


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    (tmp_path / "dest").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "victim.txt").write_text("untouched")
    (tmp_path / "flag").write_text("untouched")
    return tmp_path / "dest"


def _beside(dest: Path, top: Path | None = None) -> dict[str, tuple[int, str]]:
    """Everything under `top` (dest's parent) but dest itself: (type, content or link target) by path."""
    top = top or dest.parent
    seen = {}
    for dirpath, dirs, names in os.walk(top):
        dirs[:] = [d for d in dirs if Path(dirpath, d) != dest]
        for name in dirs + names:
            path = Path(dirpath, name)
            info = path.lstat()
            body = (os.readlink(path) if stat.S_ISLNK(info.st_mode)
                    else hashlib.sha256(path.read_bytes()).hexdigest() if stat.S_ISREG(info.st_mode) else "")
            seen[path.relative_to(top).as_posix()] = (stat.S_IFMT(info.st_mode), body)
    return seen


def _deep_chain(dest: Path, *through: Entry) -> bytes:
    """CVE-2025-4517: short symlinks (a, b, …) to long directories nest 16 deep, so that a path
    through them fits PATH_MAX but what it points to does not; `os.path.realpath` then gives up
    expanding and a link `escape` (and whatever goes through it) is judged as if inside dest."""
    steps = "abcdefghijklmnop"
    width = min(safetar.NAME_MAX, (os.pathconf(dest, "PC_PATH_MAX") - len(str(dest)) - 1) // (len(steps) + 1))
    component, path, entries = "d" * width, "", []
    for step in steps:
        entries += [_dir(os.path.join(path, component), 0o777), _link(os.path.join(path, step), component)]
        path = os.path.join(path, component)
    link = os.path.join(*steps, "l" * 254)
    entries += [_link(link, os.path.join(*[".."] * len(steps))), _link("escape", os.path.join(link, ".."))]
    return _tar(*entries, *through)


# name → the tar (given dest); outside dest are `../outside/victim.txt` and `../flag`
CORPUS: dict[str, Callable[[Path], bytes]] = {
    "absolute path": lambda dest: _tar(_file(str(dest.parent / "outside" / "abs.txt"))),
    "dot-dot path": lambda dest: _tar(_file("../outside/dotdot.txt")),
    "dot-dot inside a name": lambda dest: _tar(_dir("sub"), _file("sub/../../outside/dotdot.txt")),
    "file through an absolute symlink": lambda dest: _tar(_link("hop", str(dest.parent / "outside")),
                                                          _file("hop/through.txt")),
    "file through a relative symlink": lambda dest: _tar(_link("hop", "../outside"), _file("hop/through.txt")),
    "hard link out then overwrite": lambda dest: _tar(_hard("hard", "../outside/victim.txt"),
                                                      _file("hard", b"overwritten")),
    "hard link to an absolute path then overwrite": lambda dest: _tar(
        _hard("hard", str(dest.parent / "outside" / "victim.txt")), _file("hard", b"overwritten")),
    "hard link through a symlink then overwrite": lambda dest: _tar(
        _link("hop", "../outside"), _hard("hard", "hop/victim.txt"), _file("hard", b"overwritten")),
    "dangling symlink then a file through it": lambda dest: _tar(_link("d", "../outside/newdir"),
                                                                 _file("d/new.txt")),
    "dangling symlink inside then a file through it": lambda dest: _tar(_link("d", "not/yet"), _file("d/new.txt")),
    "symlink to . then a climb through it": lambda dest: _tar(_link("here", "."), _link("up", "here/.."),
                                                              _file("up/outside/new.txt")),
    "directory replaced by a symlink": lambda dest: _tar(_dir("d"), _file("d/inside.txt"),
                                                         _link("d", "../outside"), _file("d/new.txt")),
    "deep chain past PATH_MAX, hard link then overwrite": lambda dest: _deep_chain(
        dest, _hard("flaglink", "escape/flag"), _file("flaglink", b"overwritten")),
    "deep chain past PATH_MAX, new file through it": lambda dest: _deep_chain(dest, _file("escape/newfile")),
    "empty name": lambda dest: _tar(_file("")),
    "over-long name part": lambda dest: _tar(_file("x" * 300)),
    "over-long name": lambda dest: _tar(_file("a/" * 2100 + "x")),
    "hard link to nothing extracted": lambda dest: _tar(_hard("hard", "nowhere.txt")),
}


def _names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return [member.name for member in tar]


def _assert_refused_naming_a_member(err: safetar.UnsafeMember, data: bytes) -> None:
    message = str(err)
    assert message.startswith("refused to extract "), message
    assert any(safetar._shown(name) in message for name in _names(data)), message
    assert "\n" not in message


@MODES
@pytest.mark.parametrize("case", list(CORPUS))
def test_a_hostile_tar_is_refused_by_the_guard_naming_the_member_and_nothing_outside_dest_changes(
        extract: Callable[[bytes, Path], None], case: str, dest: Path) -> None:
    data = CORPUS[case](dest)
    before = _beside(dest)
    with pytest.raises(safetar.UnsafeMember) as refused:
        extract(data, dest)
    _assert_refused_naming_a_member(refused.value, data)
    assert _beside(dest) == before


@pytest.mark.parametrize("kind", [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE], ids=["char device", "block device", "fifo"])
def test_repo_local_files_may_not_be_devices_or_fifos(kind: bytes, dest: Path) -> None:
    data = _tar(_special("node", kind))
    with pytest.raises(safetar.UnsafeMember) as refused:
        _data(data, dest)
    _assert_refused_naming_a_member(refused.value, data)
    assert not os.path.lexists(dest / "node")


@pytest.mark.parametrize("link", ["/etc", "../../outside", "../sub/../..", "../here/.."])
def test_repo_local_files_may_not_link_out_of_dest(link: str, dest: Path) -> None:
    data = _tar(_dir("sub"), _link("here", "."), _link("cc-ci/escape", link))
    with pytest.raises(safetar.UnsafeMember) as refused:
        _data(data, dest)
    _assert_refused_naming_a_member(refused.value, data)
    assert not (dest / "cc-ci" / "escape").is_symlink()


def test_a_repo_link_made_to_point_out_by_a_later_member_is_refused_and_removed(dest: Path) -> None:
    """`up -> l/..` reads as dest itself while `l` does not exist; once `l -> .` is there, `up` is
    dest's parent. Links are judged again over the finished tree."""
    data = _tar(_link("cc-ci/up", "l/.."), _link("cc-ci/l", ".."))
    with pytest.raises(safetar.UnsafeMember, match="once the whole archive is unpacked"):
        _data(data, dest)
    assert not os.path.lexists(dest / "cc-ci" / "up")


@MODES
def test_a_member_the_host_cannot_write_is_the_guards_error_naming_it(
        extract: Callable[[bytes, Path], None], dest: Path) -> None:
    def far_future(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo("late.txt")
        info.mtime = 1e30  # a pax header can say it; no time_t holds it
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(safetar.ExtractFailed, match=r"^could not extract 'late.txt': .*out of range"):
        extract(_tar(far_future), dest)


@MODES
def test_a_cut_archive_is_the_guards_error_naming_where(extract: Callable[[bytes, Path], None], dest: Path) -> None:
    data = _tar(_file("first.txt"), _file("big.bin", b"y" * 4096))
    with pytest.raises(safetar.ExtractFailed, match=r"^the archive is damaged at or after 'big.bin': "):
        extract(data[:2048], dest)


def test_repo_local_files_lose_setuid_and_group_write(dest: Path) -> None:
    _data(_tar(_file("run.sh", mode=0o4775), _file("plain.txt", mode=0o444)), dest)
    assert stat.S_IMODE((dest / "run.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "plain.txt").stat().st_mode) == 0o644


def test_repo_local_links_inside_dest_are_kept(dest: Path) -> None:
    _data(_tar(_file("cc-ci/a.txt", b"a"), _link("cc-ci/same", "a.txt"), _link("cc-ci/up", "../cc-ci/a.txt"),
               _hard("cc-ci/hard", "cc-ci/a.txt")), dest)
    assert (dest / "cc-ci" / "same").read_bytes() == (dest / "cc-ci" / "up").read_bytes() == b"a"
    assert (dest / "cc-ci" / "hard").stat().st_ino == (dest / "cc-ci" / "a.txt").stat().st_ino


@MODES
def test_a_file_over_a_symlink_replaces_the_link_and_never_writes_through_it(
        extract: Callable[[bytes, Path], None], dest: Path) -> None:
    (dest / "d").symlink_to(dest.parent / "outside" / "victim.txt")
    before = _beside(dest)
    extract(_tar(_file("d", b"mine")), dest)
    assert not (dest / "d").is_symlink() and (dest / "d").read_bytes() == b"mine"
    assert _beside(dest) == before


@MODES
def test_a_file_over_a_hard_link_replaces_the_link_and_leaves_the_other_name_alone(
        extract: Callable[[bytes, Path], None], dest: Path) -> None:
    extract(_tar(_file("a", b"first"), _hard("b", "a"), _file("b", b"second")), dest)
    assert (dest / "a").read_bytes() == b"first" and (dest / "b").read_bytes() == b"second"


def test_a_volume_is_kept_as_it_was_symlinks_modes_owners_mtimes_and_fifos_included(dest: Path) -> None:
    _volume(_tar(_dir("data", 0o750, mtime=MTIME - 5), _file("data/secret", mode=0o4600, uid=1234),
                 _link("data/localtime", "/etc/localtime"), _link("data/rel", "../data/secret"),
                 _special("data/pipe", tarfile.FIFOTYPE)), dest)
    secret = (dest / "data" / "secret").stat()
    assert stat.S_IMODE(secret.st_mode) == 0o4600 and int(secret.st_mtime) == MTIME
    if os.geteuid() == 0:
        assert (secret.st_uid, secret.st_gid) == (1234, 1234)
    data = (dest / "data").stat()
    assert stat.S_IMODE(data.st_mode) == 0o750 and int(data.st_mtime) == MTIME - 5  # after its files
    assert os.readlink(dest / "data" / "localtime") == "/etc/localtime"  # stored, never followed
    assert (dest / "data" / "rel").read_bytes() == b"x"
    assert stat.S_ISFIFO((dest / "data" / "pipe").lstat().st_mode)


def test_an_approved_cc_ci_folder_with_a_symlink_out_is_refused(tmp_path: Path) -> None:
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
    with pytest.raises(safetar.UnsafeMember):
        repolocal._extract(repo, tree, tmp_path / "tests" / "recipe")
    assert not (tmp_path / "tests" / "recipe" / "etc").is_symlink()


# Property tests: random archives of dirs, files, symlinks and hard links over a few names.
_PLAIN = st.lists(st.sampled_from(["a", "b"]), min_size=1, max_size=3).map("/".join)
_ODD = (st.lists(st.sampled_from(["a", "b", ".", ".."]), min_size=1, max_size=3).map("/".join)
        | st.sampled_from(["/abs", "", "a/", "./b"]))
# mostly plain names, so that a refusal seldom ends an archive before its later members meet the
# earlier ones (a file through a symlink, a link over a directory, …)
_NAME = st.sampled_from(range(16)).flatmap(lambda n: _ODD if n == 0 else _PLAIN)
_UP = st.sampled_from(["../outside", "../outside/victim.txt", "../../..", "..", ".", "a/..", "a/../.."])
_ENTRY = st.one_of(
    st.tuples(st.just("dir"), _NAME, st.just("")),
    st.tuples(st.just("file"), _NAME, st.binary(max_size=8).map(bytes.hex)),
    st.tuples(st.just("sym"), _NAME, _NAME | _UP | st.just("<outside>")),
    st.tuples(st.just("sym"), _NAME, _UP),
    st.tuples(st.just("hard"), _NAME, _NAME | _UP | st.just("<outside>/victim.txt")),
    st.tuples(st.just("sym+file"), _PLAIN, _PLAIN | _UP | st.just("<outside>")),  # a file through it next
)


# The property tests make and remove ~20 directories per example, hundreds of examples: on the
# shared disk, under the suite's load, removing them took more than the extracting (profiled: 2.9 s
# of rmdir in 5.5 s). Both sides of each comparison are extracted to the same file system.
_SCRATCH = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None


def _random_tar(entries: list[tuple[str, str, str]], outside: Path) -> bytes:
    made: list[Entry] = []
    for kind, name, arg in entries:
        arg = arg.replace("<outside>", str(outside))
        if kind == "dir":
            made.append(_dir(name))
        elif kind == "file":
            made.append(_file(name, arg.encode()))
        elif kind == "hard":
            made.append(_hard(name, arg))
        else:
            made.append(_link(name, arg))
            if kind == "sym+file":
                made.append(_file(f"{name}/through.txt"))
    return _tar(*made)


@given(st.lists(_ENTRY, max_size=8))
def test_no_random_archive_writes_outside_dest_or_raises_anything_but_the_guards_error(
        entries: list[tuple[str, str, str]]) -> None:
    with tempfile.TemporaryDirectory(dir=_SCRATCH) as tmp:
        # dest sits deep, so that whatever climbs out lands in the watched tree beside it
        root = Path(tmp, "s1", "s2", "s3", "s4")
        for mode, extract in (("volume", _volume), ("data", _data)):
            dest = root / mode / "dest"
            dest.mkdir(parents=True)
            (root / mode / "outside").mkdir()
            (root / mode / "outside" / "victim.txt").write_text("untouched")
            data = _random_tar(entries, root / mode / "outside")
            before = _beside(dest, Path(tmp))
            try:
                extract(data, dest)
            except (safetar.UnsafeMember, safetar.ExtractFailed):
                pass
            assert _beside(dest, Path(tmp)) == before
            assert (root / mode / "outside" / "victim.txt").read_text() == "untouched"


def _tree(dest: Path, data_mode: bool) -> dict[str, tuple[object, ...]]:
    """What an extraction made: type, content or target, mode, mtime, owner and inode group by path."""
    seen: dict[str, tuple[object, ...]] = {}
    inodes: dict[int, str] = {}
    for dirpath, dirs, names in os.walk(dest):
        for name in sorted(dirs + names):
            path = Path(dirpath, name)
            info = path.lstat()
            kind = stat.S_IFMT(info.st_mode)
            rel = path.relative_to(dest).as_posix()
            body = os.readlink(path) if kind == stat.S_IFLNK else path.read_bytes() if kind == stat.S_IFREG else b""
            mode = None if kind == stat.S_IFLNK or (data_mode and kind == stat.S_IFDIR) else stat.S_IMODE(info.st_mode)
            mtime = None if kind == stat.S_IFLNK else int(info.st_mtime)
            first = inodes.setdefault(info.st_ino, rel) if kind == stat.S_IFREG else rel
            seen[rel] = (kind, body, mode, mtime, info.st_uid, info.st_gid, first)
    return seen


_BENIGN_PART = st.sampled_from(["a", "b", "c", "long" * 30])
_BENIGN_PATH = st.lists(_BENIGN_PART, min_size=1, max_size=3).map(tuple)


@st.composite
def _benign(draw: st.DrawFn) -> list[Entry]:
    """An archive as tar, docker or restic write one: a member's parents are directories (made
    first, or implied), symlinks point at places inside dest, hard links at files written before."""
    dirs: set[tuple[str, ...]] = set()
    files: list[tuple[str, ...]] = []
    taken: set[tuple[str, ...]] = set()
    entries: list[Entry] = []
    for path in draw(st.lists(_BENIGN_PATH, max_size=10)):
        if path in taken or any(path[:i] in taken - dirs for i in range(1, len(path))) or \
                any(p[:len(path)] == path for p in taken if len(p) > len(path)):
            continue
        for parent in (path[:i] for i in range(1, len(path))):
            if parent not in dirs:  # made explicitly: an implied one gets the time of extraction
                entries.append(_dir("/".join(parent), 0o755, MTIME))
                dirs.add(parent)
                taken.add(parent)
        taken.add(path)
        name, mode, mtime = "/".join(path), draw(st.sampled_from([0o644, 0o600, 0o755, 0o4755, 0o440])), \
            draw(st.integers(0, 2_000_000_000))
        kind = draw(st.sampled_from(["dir", "file", "sym", "hard"] if files else ["dir", "file", "sym"]))
        if kind == "dir":
            dirs.add(path)
            entries.append(_dir(name, mode | 0o700, mtime))
        elif kind == "file":
            files.append(path)
            entries.append(_file(name, draw(st.binary(max_size=64)), mode, mtime, draw(st.sampled_from([0, 1000]))))
        elif kind == "sym":
            entries.append(_link(name, "../" * (len(path) - 1) + draw(st.sampled_from(["a", "b/c", "."]))))
        else:
            entries.append(_hard(name, "/".join(draw(st.sampled_from(files)))))
    return entries


def _trusted(data: bytes, dest: Path) -> None:
    """tarfile's own extraction, trusting the archive: what the guard must give for a benign one."""
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        if hasattr(tarfile, "fully_trusted_filter"):
            tar.extractall(dest, numeric_owner=True, filter="fully_trusted")
        else:
            tar.extractall(dest, numeric_owner=True)


@given(_benign())
def test_a_benign_archive_extracts_as_tarfile_itself_extracts_it(entries: list[Entry]) -> None:
    data = _tar(*entries)
    with tempfile.TemporaryDirectory(dir=_SCRATCH) as tmp:
        for name in ("volume", "data", "trusted"):
            Path(tmp, name).mkdir()
        _volume(data, Path(tmp, "volume"))
        _data(data, Path(tmp, "data"))
        _trusted(data, Path(tmp, "trusted"))
        assert _tree(Path(tmp, "volume"), False) == _tree(Path(tmp, "trusted"), False)
        ours, theirs = _tree(Path(tmp, "data"), True), _tree(Path(tmp, "trusted"), True)
        assert ours.keys() == theirs.keys()
        for path, (kind, body, mode, mtime, _uid, _gid, first) in theirs.items():
            if kind == stat.S_IFREG:
                assert isinstance(mode, int)
                mode = (mode & 0o755 if mode & 0o100 else mode & 0o644) | 0o600  # the data rules
            assert ours[path][:4] + ours[path][6:] == (kind, body, mode, mtime, first)
            assert ours[path][4:6] == (os.geteuid(), os.getegid())  # owners not restored


@pytest.mark.parametrize("then", ["a second such link", "a refused member before the end"])
def test_no_link_a_later_member_turned_outwards_stays_behind_whatever_ends_the_archive(
        dest: Path, then: str) -> None:
    """`l -> s/../../../..` reads as inside while `s` is missing; `s -> ../../../e` then turns it
    three levels above dest. Every such link is removed, also when there are two, and also when
    a later member is refused before the archive's end (found in review: both stayed)."""
    turned = [_link("a/b/c/s", "../../../e"), _dir("e")]
    if then == "a second such link":
        entries = [_dir("a/b/c"), _link("a/b/c/l", "s/../../../.."), _link("a/b/c/l2", "s/../../../.."), *turned]
    else:
        entries = [_dir("a/b/c"), _link("a/b/c/l", "s/../../../.."), *turned, _link("z", "/etc")]
    with pytest.raises(safetar.UnsafeMember):
        _data(_tar(*entries), dest)
    for name in ("a/b/c/l", "a/b/c/l2", "z"):
        assert not os.path.lexists(dest / name), name
