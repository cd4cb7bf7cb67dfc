"""Unpack a tar without letting it write outside its destination, on every Python cc-ci supports.

`TarFile.extractall(filter=...)` arrived in 3.11.4; Debian 12's own python3 is 3.11.2. Where the
argument exists it does the work; elsewhere the same checks run here on each member as it comes,
before tarfile extracts it (extractall pulls the next member only once the previous one is on
disk, so a symlink extracted earlier is seen by the checks of the members after it).

Two policies:
- `extract_data`: files from a repo (the approved `cc-ci/` folder). The stdlib "data" filter, an
  absolute name refused rather than made relative: nothing out of dest, no links pointing out of
  dest, no device files or fifos, no setuid bits or group/other write, owners not restored.
- `extract_volume`: a volume's contents, kept as they were (owners, modes, symlinks to anywhere,
  fifos and devices: they are data of the app). Refused: absolute names, names that land out of
  dest (also through a symlink extracted before), hard links to a file out of dest.
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from runner.errors import InfraError

# Overridden by tests to exercise the fallback on a Python that has the filter.
HAS_FILTER = hasattr(tarfile, "data_filter")

Check = Callable[[tarfile.TarInfo, str], tarfile.TarInfo]


class UnsafeMember(InfraError):
    """A tar member would land, or point, outside the destination; nothing more is extracted."""


def extract_data(tar: tarfile.TarFile, dest: Path) -> None:
    if HAS_FILTER:
        try:
            tar.extractall(dest, filter=_stdlib_data)
        except tarfile.FilterError as err:  # 3.11.4+, like the filter argument
            raise UnsafeMember(f"refused to extract {err}") from None
        return
    tar.extractall(dest, members=_checked(tar, dest, _data_member))


def extract_volume(tar: tarfile.TarFile, dest: Path) -> None:
    if HAS_FILTER:
        tar.extractall(dest, numeric_owner=True, filter=_volume_member)
        return
    tar.extractall(dest, members=_checked(tar, dest, _volume_member), numeric_owner=True)


def _checked(members: Iterable[tarfile.TarInfo], dest: Path, check: Check) -> Iterator[tarfile.TarInfo]:
    for member in members:
        yield check(member, str(dest))


def _volume_member(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
    _refuse_out_of_dest(member, dest)
    if member.islnk():
        _refuse_link_out_of_dest(member, os.path.join(dest, member.linkname), dest)
    return member  # kept as it is: owners, modes and symlink targets are the volume's data


def _stdlib_data(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
    _refuse_absolute(member)  # the stdlib strips the leading '/'; refused here as on the fallback
    return tarfile.data_filter(member, dest)


def _data_member(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
    """The stdlib "data" filter's checks and rules, for a Python that lacks it."""
    _refuse_out_of_dest(member, dest)
    if not (member.isreg() or member.islnk() or member.isdir() or member.issym()):
        raise UnsafeMember(f"refused to extract {member.name!r}: a device file or fifo")
    if member.issym() or member.islnk():
        if os.path.isabs(member.linkname):
            raise UnsafeMember(f"refused to extract {member.name!r}: a link to an absolute path")
        base = os.path.dirname(member.name) if member.issym() else ""
        _refuse_link_out_of_dest(member, os.path.join(dest, base, member.linkname), dest)
    member.mode &= 0o755  # no setuid/setgid/sticky, no group/other write
    if member.isreg() or member.islnk():
        member.mode = (member.mode if member.mode & 0o100 else member.mode & ~0o111) | 0o600
    # Owners are not restored: the files belong to whoever extracts them (chown to ourselves).
    member.uid, member.gid, member.uname, member.gname = os.geteuid(), os.getegid(), "", ""
    return member


def _refuse_absolute(member: tarfile.TarInfo) -> None:
    if member.name.startswith("/") or os.path.isabs(member.name):
        raise UnsafeMember(f"refused to extract {member.name!r}: an absolute path")


def _refuse_out_of_dest(member: tarfile.TarInfo, dest: str) -> None:
    _refuse_absolute(member)
    root = os.path.realpath(dest)
    target = os.path.realpath(os.path.join(root, member.name))
    if os.path.commonpath([target, root]) != root:
        raise UnsafeMember(f"refused to extract {member.name!r}: it would be written to {target}, outside {root}")


def _refuse_link_out_of_dest(member: tarfile.TarInfo, link_target: str, dest: str) -> None:
    root = os.path.realpath(dest)
    target = os.path.realpath(link_target)
    if os.path.commonpath([target, root]) != root:
        raise UnsafeMember(f"refused to extract {member.name!r}: a link to {target}, outside {root}")
