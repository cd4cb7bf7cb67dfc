"""Unpack a tar without letting it write outside its destination, on every Python cc-ci supports.

tarfile only reads the archive here; nothing is created by `extractall`, and no path is resolved by
the OS (`os.path.realpath` gives up past PATH_MAX, CVE-2025-4517; the stdlib filter and a check
of our own built on it could both be walked out of). Each member is created relative to a
descriptor of its parent directory, reached from the destination's descriptor one component at a
time with O_NOFOLLOW: a parent that is a symlink (or not a directory) is refused, so a symlink may
be extracted as an entry but is never traversed. The same code runs on 3.11.2 (Debian 12) and on
later Pythons.

Two policies:
- `extract_data`: files from a repo (the approved `cc-ci/` folder), the stdlib "data" filter's
  rules: no devices or fifos, no setuid bits or group/other write, owners not restored, symlinks
  only relative and only to places inside dest (checked over the whole tree once it is unpacked,
  so a later member cannot turn an earlier link outwards).
- `extract_volume`: a volume's contents, kept as they were (numeric owners, modes, symlinks to
  anywhere, fifos and devices: they are data of the app).
Both refuse absolute names, `..`, empty and over-long names, a member through a symlink, a
directory replaced by a non-directory, and hard links to anything but a regular file this same
archive put inside dest. Modes and mtimes are kept (the restore proof judges by mtimes).
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from runner.errors import InfraError

NAME_MAX = 255  # bytes in one path component (Linux, every filesystem the runs use)
PATH_MAX = 4096  # bytes in a whole path, NUL included; names past it could not be used by path later
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_MAX_LINK_HOPS = 40  # the kernel's own limit on symlinks followed in one lookup


class UnsafeMember(InfraError):
    """A tar member would land, or point, outside the destination; nothing more is extracted."""


class ExtractFailed(InfraError):
    """A member could not be written for a reason of the host (disk full, permissions)."""


@dataclass(frozen=True)
class _Policy:
    data: bool  # the "data" rules; else a volume, kept as it was

    def file_mode(self, member: tarfile.TarInfo) -> int:
        if not self.data:
            return member.mode & 0o7777
        mode = member.mode & 0o755  # no setuid/setgid/sticky, no group/other write
        return (mode if mode & 0o100 else mode & ~0o111) | 0o600


DATA, VOLUME = _Policy(data=True), _Policy(data=False)


def extract_data(tar: tarfile.TarFile, dest: Path) -> None:
    _extract(tar, dest, DATA)


def extract_volume(tar: tarfile.TarFile, dest: Path) -> None:
    _extract(tar, dest, VOLUME)


def _extract(tar: tarfile.TarFile, dest: Path, policy: _Policy) -> None:
    room = PATH_MAX - 2 - len(os.fsencode(os.path.abspath(dest)))
    with _Tree(os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC), policy, room) as tree:
        last: tarfile.TarInfo | None = None
        try:
            try:
                for last in tar:
                    with _about(last):
                        tree.add(tar, last)
            except tarfile.TarError as err:  # cut or corrupt: a download or a stream that broke off
                where = f"at or after {_shown(last.name)}" if last is not None else "before its first member"
                raise ExtractFailed(f"the archive is damaged {where}: {err}") from err
            tree.finish()
        except BaseException:
            # A refusal ends the archive early: a link written before it, that a member since
            # turned outwards, must not stay behind in what was extracted.
            if policy.data:
                tree.drop_links_out()
            raise


@contextmanager
def _about(member: tarfile.TarInfo) -> Iterator[None]:
    """An OS error while writing `member` (disk full, a time out of range) becomes the guard's own
    error naming it, in one line."""
    try:
        yield
    except (OSError, ValueError, OverflowError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise ExtractFailed(f"could not extract {_shown(member.name)}: {reason}") from err


def _shown(name: str) -> str:
    return repr(name if len(name) <= 120 else name[:120] + "…")


def _refuse(member: tarfile.TarInfo, why: str) -> UnsafeMember:
    return UnsafeMember(f"refused to extract {_shown(member.name)}: {why}; nothing more was extracted")


def _parts(member: tarfile.TarInfo, name: str, room: int, what: str = "its name") -> tuple[str, ...]:
    """`name` as components under dest; refused when it is empty, absolute, climbs or is too long
    (`room`: the bytes a name may have before dest/name passes PATH_MAX, past which the files
    could not be used by path afterwards: the backup's manifest, restic, the export)."""
    if not name.strip("/"):
        raise _refuse(member, f"{what} is empty")
    if name.startswith("/"):
        raise _refuse(member, f"{what} is an absolute path")
    raw = name.split("/")
    if ".." in raw:
        raise _refuse(member, f"{what} climbs out with '..'")
    if "\0" in name:
        raise _refuse(member, f"{what} holds a NUL byte")
    parts = tuple(part for part in raw if part not in ("", "."))
    if len(os.fsencode(name)) > room or any(len(os.fsencode(part)) > NAME_MAX for part in parts):
        raise _refuse(member, f"{what} is longer than the OS allows ({NAME_MAX} bytes a part, "
                              f"{PATH_MAX - 1} with the destination's path)")
    return parts


def _kind(fd: int, name: str) -> int | None:
    """The file type of `name` in the directory `fd`, the entry itself (never followed); None if absent."""
    try:
        return stat.S_IFMT(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        return None


@dataclass
class _Tree:
    """The destination, reached only through directory descriptors opened with O_NOFOLLOW."""

    root: int
    policy: _Policy
    room: int  # bytes a member's name may have
    files: set[tuple[str, ...]] = field(default_factory=set)  # regular files written so far
    dirs: dict[tuple[str, ...], tarfile.TarInfo] = field(default_factory=dict)
    links: dict[tuple[str, ...], tarfile.TarInfo] = field(default_factory=dict)  # symlinks written
    _cached: tuple[tuple[str, ...], int] | None = None  # the last parent opened: members come grouped

    def __enter__(self) -> _Tree:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._cached is not None:
            os.close(self._cached[1])
        os.close(self.root)

    def add(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        parts = _parts(member, member.name, self.room)
        if not parts:  # "." or "./": the destination itself
            if not member.isdir():
                raise _refuse(member, "it names the destination itself")
            self.dirs[parts] = member
            return
        parent, leaf = self._parent(member, parts[:-1], create=True), parts[-1]
        if member.isdir():
            self._make_dir(member, parent, leaf)
            self.dirs[parts] = member
        elif member.issym():
            self._make_symlink(member, parts, parent, leaf)
        elif member.islnk():
            self._make_hardlink(member, parts, parent, leaf)
        elif member.isreg():
            self._make_file(tar, member, parent, leaf)
        elif member.isfifo() or member.ischr() or member.isblk():
            self._make_node(member, parent, leaf)
        else:
            raise _refuse(member, f"an entry of unknown type {member.type!r}")
        self.files.discard(parts)
        if member.isreg() or member.islnk():
            self.files.add(parts)
        if not member.issym():
            self.links.pop(parts, None)

    def finish(self) -> None:
        """Directory modes and mtimes last, deepest first (writing into a directory changes its
        mtime; a read-only one could not be written into); then, for data, every symlink once more
        over the finished tree."""
        for parts in sorted(self.dirs, reverse=True):
            member = self.dirs[parts]
            with _about(member):
                fd = self._open(member, parts, create=False)
                try:
                    self._set_attrs(member, fd=fd)
                finally:
                    os.close(fd)
        if self.policy.data and (out := self.drop_links_out()) is not None:
            raise _refuse(out, f"a link to {out.linkname!r}, out of the destination once "
                               "the whole archive is unpacked")

    def drop_links_out(self) -> tarfile.TarInfo | None:
        """Every symlink written that leads out of the tree as it now stands removed (all of them,
        not only the first); the first of them, or None."""
        first = None
        for parts, member in list(self.links.items()):
            with suppress(UnsafeMember, OSError):  # not judged: removed, the safe side
                if self._stays_inside(member, parts, member.linkname):
                    continue
            first = first or member
            with suppress(OSError, UnsafeMember):
                os.unlink(parts[-1], dir_fd=self._parent(member, parts[:-1], create=False))
            self.links.pop(parts, None)
        return first

    def _parent(self, member: tarfile.TarInfo, parts: tuple[str, ...], create: bool) -> int:
        """A descriptor of the directory `parts` (owned by the tree: never close it)."""
        if not parts:
            return self.root
        if self._cached is not None and self._cached[0] == parts:
            return self._cached[1]
        fd = self._open(member, parts, create)
        if self._cached is not None:
            os.close(self._cached[1])
        self._cached = (parts, fd)
        return fd

    def _open(self, member: tarfile.TarInfo, parts: tuple[str, ...], create: bool) -> int:
        """A new descriptor of the directory `parts`, each component opened with O_NOFOLLOW from
        the one before; missing ones made when `create` (as tarfile makes a member's parents)."""
        fd = os.dup(self.root)
        try:
            for depth, part in enumerate(parts, 1):
                if create and _kind(fd, part) is None:
                    os.mkdir(part, 0o777, dir_fd=fd)
                try:
                    step = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError as err:
                    raise self._no_dir(member, fd, part, "/".join(parts[:depth])) from err
                os.close(fd)
                fd = step
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _no_dir(self, member: tarfile.TarInfo, fd: int, part: str, path: str) -> Exception:
        kind = _kind(fd, part)
        if kind == stat.S_IFLNK:
            return _refuse(member, f"{path!r} is a symlink, never followed")
        if kind is None:
            return _refuse(member, f"{path!r} does not exist")
        if kind != stat.S_IFDIR:
            return _refuse(member, f"{path!r} is not a directory")
        return ExtractFailed(f"could not extract {_shown(member.name)}: {path!r} cannot be opened")

    def _clear(self, member: tarfile.TarInfo, parent: int, leaf: str) -> None:
        """Make room for a non-directory: an entry already there is removed (a symlink or a hard
        link unlinked, never written through); a directory is never replaced."""
        kind = _kind(parent, leaf)
        if kind == stat.S_IFDIR:
            raise _refuse(member, "a directory of the same name is already there")
        if kind is not None:
            os.unlink(leaf, dir_fd=parent)

    def _make_dir(self, member: tarfile.TarInfo, parent: int, leaf: str) -> None:
        kind = _kind(parent, leaf)
        if kind == stat.S_IFDIR:
            return
        if kind is not None:
            os.unlink(leaf, dir_fd=parent)  # a symlink or file of that name: removed, not followed
        # owner-only until finish() sets the member's mode (as tarfile does); data keeps the umask's
        os.mkdir(leaf, 0o777 if self.policy.data else 0o700, dir_fd=parent)

    def _make_file(self, tar: tarfile.TarFile, member: tarfile.TarInfo, parent: int, leaf: str) -> None:
        self._clear(member, parent, leaf)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        with os.fdopen(os.open(leaf, flags, 0o600, dir_fd=parent), "wb") as out:
            source = tar.extractfile(member)
            assert source is not None  # a regular member always has a file object
            _copy(source, out)
            out.flush()
            self._set_attrs(member, fd=out.fileno())

    def _make_symlink(self, member: tarfile.TarInfo, parts: tuple[str, ...], parent: int, leaf: str) -> None:
        target = member.linkname
        if not target or "\0" in target or len(os.fsencode(target)) >= PATH_MAX:
            raise _refuse(member, "its link target is empty, holds a NUL byte or is too long")
        if self.policy.data:
            if target.startswith("/"):
                raise _refuse(member, f"a link to the absolute path {target!r}")
            if not self._stays_inside(member, parts, target):
                raise _refuse(member, f"a link to {target!r}, out of the destination")
        self._clear(member, parent, leaf)
        os.symlink(target, leaf, dir_fd=parent)
        if self.policy.data:
            self.links[parts] = member
        self._chown(member, leaf=(parent, leaf))

    def _make_hardlink(self, member: tarfile.TarInfo, parts: tuple[str, ...], parent: int, leaf: str) -> None:
        source = _parts(member, member.linkname, self.room, "its link target")
        if source == parts or source not in self.files:
            raise _refuse(member, f"a hard link to {member.linkname!r}, which is no file this archive "
                                  "wrote before it")
        source_dir = self._open(member, source[:-1], create=False)
        try:
            if _kind(source_dir, source[-1]) != stat.S_IFREG:
                raise _refuse(member, f"a hard link to {member.linkname!r}, which is no longer a regular file")
            self._clear(member, parent, leaf)
            os.link(source[-1], leaf, src_dir_fd=source_dir, dst_dir_fd=parent, follow_symlinks=False)
        finally:
            os.close(source_dir)
        self._set_attrs(member, leaf=(parent, leaf))

    def _make_node(self, member: tarfile.TarInfo, parent: int, leaf: str) -> None:
        if self.policy.data:
            raise _refuse(member, "a device file or fifo")
        self._clear(member, parent, leaf)
        if member.isfifo():
            os.mkfifo(leaf, 0o600, dir_fd=parent)
        else:
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            os.mknod(leaf, 0o600 | kind, os.makedev(member.devmajor, member.devminor), dir_fd=parent)
        self._set_attrs(member, leaf=(parent, leaf))

    def _set_attrs(self, member: tarfile.TarInfo, fd: int | None = None,
                   leaf: tuple[int, str] | None = None) -> None:
        """Owner (volumes, as root), mode, mtime: on an open descriptor, or on an entry this call
        just created in its parent's descriptor (so not a symlink)."""
        self._chown(member, fd=fd, leaf=leaf)
        mode = self.policy.file_mode(member)
        times = (member.mtime, member.mtime)
        if fd is not None:
            if not (self.policy.data and member.isdir()):  # the data filter keeps directories' modes
                os.chmod(fd, mode)
            os.utime(fd, times)
        elif leaf is not None:
            os.chmod(leaf[1], mode, dir_fd=leaf[0])
            os.utime(leaf[1], times, dir_fd=leaf[0], follow_symlinks=False)

    def _chown(self, member: tarfile.TarInfo, fd: int | None = None, leaf: tuple[int, str] | None = None) -> None:
        if self.policy.data or os.geteuid() != 0:
            return
        try:  # as tarfile's extractall (errorlevel 1): an owner that cannot be set is not fatal
            if fd is not None:
                os.fchown(fd, member.uid, member.gid)
            elif leaf is not None:
                os.chown(leaf[1], member.uid, member.gid, dir_fd=leaf[0], follow_symlinks=False)
        except OSError:
            pass

    def _stays_inside(self, member: tarfile.TarInfo, parts: tuple[str, ...], target: str) -> bool:
        """Whether following the link at `parts` to `target` stays inside dest over the tree as it
        stands: each component looked at in its directory's descriptor (lstat, readlink), each
        symlink met expanded in place, `..` never above dest; a missing part is taken as it reads."""
        where: list[str] = list(parts[:-1])
        todo = target.split("/")[::-1]
        hops = 0
        while todo:
            part = todo.pop()
            if part in ("", "."):
                continue
            if part == "..":
                if not where:
                    return False
                where.pop()
                continue
            link = self._readlink(member, tuple(where), part)
            if link is None:
                where.append(part)
                continue
            hops += 1
            if hops > _MAX_LINK_HOPS:
                return True  # a loop: the OS gives up (ELOOP) sooner; every link on it is judged itself
            if link.startswith("/"):
                return False
            todo.extend(link.split("/")[::-1])
        return True

    def _readlink(self, member: tarfile.TarInfo, where: tuple[str, ...], part: str) -> str | None:
        """The target of `where/part` if that is a symlink; None for anything else or nothing."""
        try:
            fd = self._open(member, where, create=False)
        except (InfraError, OSError):
            return None  # `where` is no directory: the OS could not follow through it either
        try:
            if _kind(fd, part) != stat.S_IFLNK:
                return None
            return os.readlink(part, dir_fd=fd)
        finally:
            os.close(fd)


def _copy(source: IO[bytes], out: IO[bytes]) -> None:
    for block in iter(lambda: source.read(1 << 20), b""):
        out.write(block)
