"""Reading a recipe's files within bounds: the one way the harness reads a recipe's compose files,
`.env.sample` and `abra.sh`, and the one YAML loader for what they hold.

A PR's recipe is untrusted input. A 435-byte compose file of nested aliases expands to hundreds of
millions of nodes in whatever walks it; a 50 MB `.env.sample` ends up in a subprocess environment
past the kernel's limit. So each file has a size limit, checked before its text is read, and the
YAML loader refuses documents whose aliases expand past a node budget or that nest too deep.
Every refusal is `RecipeFileError` (bad input, exit 2): one line naming the file and what to do;
OverLimit past a bound, NotYaml for what a safe loader cannot construct, NotText for bytes that
are not UTF-8, OutsideRecipe for a file that is not a regular file inside the recipe.

A recipe's files are found inside the recipe only: a name is followed component by component, a
committed symlink by its target, and one that leads out of the clone (absolute, or `..` past its
root) is refused, never read. The same walk judges the files a deploy makes the docker CLI read
on the harness host (`configs: … file:`, `env_file:`), in git's tree at a ref before anything is
deployed, and in the work tree right before `docker stack deploy`.
"""

from __future__ import annotations

import functools
import os
import posixpath
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import yaml

from runner.errors import BadInput, ExecError
from runner.recipe import git

KIB = 1024
YAML_MAX_BYTES = 256 * KIB  # each compose file of the chain; real ones are a few KiB
ENV_MAX_BYTES = 64 * KIB  # .env.sample, and its values after expansion, in all
ABRA_SH_MAX_BYTES = 64 * KIB  # abra.sh; its exports join the env of every docker call
# The env ends up in a subprocess's environment: Linux refuses one variable past 128 KiB and all of
# them past ARG_MAX (2 MiB by default); the two 64 KiB limits keep a run well inside both.
YAML_MAX_NODES = 100_000  # nodes of a document with every alias expanded (the alias-bomb bound)
YAML_MAX_DEPTH = 64  # nesting of collections; compose files nest fewer than ten deep
MAX_SYMLINKS = 40  # symlinks followed for one name: Linux's own limit (MAXSYMLINKS)
LINK_MAX_BYTES = 4 * KIB  # a symlink's target: PATH_MAX

# the C loader when there is one (7x faster): its composer shares aliased nodes as the Python one
# does, so the same walk over its node graph bounds it before anything is constructed
_Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class RecipeFileError(BadInput):
    """A recipe file cc-ci will not read: past a bound, or not YAML. One line: the file, what is
    wrong and what to do."""

    def __init__(self, file: str, problem: str, fix: str) -> None:
        super().__init__(f"{file}: {problem}; {fix}")
        self.file, self.problem = file, problem


class OverLimit(RecipeFileError):
    """Past a size, alias-expansion or nesting bound: refused before it is read or constructed."""


class NotYaml(RecipeFileError):
    """Not one YAML document that a safe loader can construct."""


class NotText(RecipeFileError):
    """Not UTF-8 text: no reader of the harness can take it (git's output is decoded as UTF-8)."""


class OutsideRecipe(RecipeFileError):
    """Not a regular file inside the recipe: a symlink (or a path) leading out of the clone, a
    directory, a symlink loop."""


def _not_text(name: str, err: UnicodeDecodeError) -> NotText:
    return NotText(name, f"is not UTF-8 text (byte {err.start} is {err.object[err.start:err.start + 1]!r})",
                   "save it as UTF-8")


def limit_for(name: str) -> int:
    """The size limit of a recipe file, by its name in the recipe."""
    base = name.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    return {".env.sample": ENV_MAX_BYTES, "abra.sh": ABRA_SH_MAX_BYTES}.get(base, YAML_MAX_BYTES)


def too_big(name: str, size: int, limit: int | None = None) -> OverLimit:
    limit = limit_for(name) if limit is None else limit
    return OverLimit(name, f"{_kib(size)} is past cc-ci's limit of {_kib(limit)} for it",
                     "make it smaller (docs/enroll-recipe.md, \"Limits\")")


def check_size(name: str, text: str, limit: int | None = None) -> str:
    """`text` when its UTF-8 size is within `limit` (default: `name`'s); else OverLimit."""
    limit = limit_for(name) if limit is None else limit
    if len(text) > limit or len(text.encode(errors="surrogatepass")) > limit:  # cheap first: a char is at least a byte
        raise too_big(name, len(text.encode(errors="surrogatepass")), limit)
    return text


def at(ref: str, name: str) -> str:
    """How a refusal names a file at a ref: `<commit, shortened>:<name>`, a tag as it is."""
    return f"{ref[:12] if len(ref) == 40 else ref}:{name}"


def show_file(checkout: Path, ref: str, name: str, shown: str | None = None) -> str | None:
    """A recipe file's text at `ref`, or None when it is not there. It is found in git's tree
    inside the recipe (a committed symlink followed to its target, OutsideRecipe when it leads out)
    and its size asked of git first, so an oversized file is refused (OverLimit) without reading it
    into memory. `shown` names the file in a refusal (default: `at(ref, name)`).

    At a commit (40 hex digits), what was read is kept: a commit's files never change, and a run
    reads `.env.sample`, `abra.sh` and the compose files at the same commit when it checks, plans
    and creates its app (two git processes a read). A refusal is not kept: it is raised again."""
    if _COMMIT.fullmatch(ref):
        return _show_at_commit(checkout, ref, name, shown)
    return _show(checkout, ref, name, shown)


_COMMIT = re.compile(r"[0-9a-f]{40}")


@functools.lru_cache(maxsize=256)
def _show_at_commit(checkout: Path, commit: str, name: str, shown: str | None) -> str | None:
    return _show(checkout, commit, name, shown)


def _show(checkout: Path, ref: str, name: str, shown: str | None) -> str | None:
    shown = shown or at(ref, name)
    found = resolve(name, tree(checkout, ref), lambda why: OutsideRecipe(shown, why, _OWN_FILE_FIX))
    if found is None:
        return None
    path, entry = found
    if entry.size > limit_for(name):
        raise too_big(shown, entry.size)
    try:
        return git.show_file(checkout, ref, path)
    except UnicodeDecodeError as err:
        raise _not_text(shown, err) from None


def read_file(root: Path, name: str) -> str:
    """A recipe file of a checkout's work tree at `root` ('' when absent), found inside it as
    `show_file` finds it in git's tree, and refused past its limit before it is read."""
    found = work_tree_file(root, name)
    if found is None:
        return ""
    path, entry = found
    if entry.size > limit_for(name):
        raise too_big(name, entry.size)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise _not_text(name, err) from None


def work_tree_file(root: Path, name: str) -> tuple[Path, Entry] | None:
    """Where the regular file `name` of the work tree at `root` really is (a committed symlink
    followed inside the recipe), None when absent; OutsideRecipe when it leads out."""
    found = resolve(name, work_tree(root), lambda why: OutsideRecipe(name, why, _OWN_FILE_FIX))
    return None if found is None else (root / found[0], found[1])


# -- inside the recipe -------------------------------------------------------------------------

_OWN_FILE_FIX = "commit the file itself inside the recipe, not a symlink out of it"


@dataclass(frozen=True)
class Entry:
    """One name of a recipe, as `lstat` (or git's tree) has it; a symlink with its target."""

    kind: Literal["file", "dir", "link", "other"]
    size: int = 0
    target: str | None = None  # a symlink's; None when it cannot be read


Lookup = Callable[[str], Entry | None]  # a recipe-relative path without symlinks -> its entry


def tree(checkout: Path, ref: str) -> Lookup:
    """Names as git's tree at `ref` has them (a symlink is a blob of mode 120000 holding its target)."""
    def lookup(path: str) -> Entry | None:
        try:
            out = git.git(checkout, "--literal-pathspecs", "ls-tree", "-l", "-z", ref, "--", path)
        except ExecError:
            return None
        for record in out.split("\0"):
            meta, _, found = record.partition("\t")
            if found != path or len(meta.split()) != 4:
                continue
            mode, _kind, oid, size = meta.split()
            if mode == "120000":
                return Entry("link", target=_link_target(checkout, oid, size))
            if mode == "040000":
                return Entry("dir")
            return Entry("file", int(size)) if mode in ("100644", "100755") else Entry("other")  # a submodule
        return None
    return lookup


def _link_target(checkout: Path, oid: str, size: str) -> str | None:
    if not size.isdigit() or int(size) > LINK_MAX_BYTES:
        return None
    try:
        return git.git(checkout, "cat-file", "blob", oid, strip=False)  # exact: "a " is not "a"
    except (ExecError, UnicodeDecodeError):
        return None


def work_tree(root: Path) -> Lookup:
    """Names as the file system under `root` has them, without following the last symlink."""
    def lookup(path: str) -> Entry | None:
        full = root / path
        try:
            info = os.lstat(full)
            if stat.S_ISLNK(info.st_mode):
                return Entry("link", target=os.readlink(full))
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (OSError, ValueError):  # too long, a NUL: nothing can open it either
            return Entry("other")
        if stat.S_ISDIR(info.st_mode):
            return Entry("dir")
        return Entry("file", info.st_size) if stat.S_ISREG(info.st_mode) else Entry("other")
    return lookup


def resolve(name: str, lookup: Lookup, refuse: Callable[[str], RecipeFileError]) -> tuple[str, Entry] | None:
    """`name` (relative to the recipe's root) followed component by component as the kernel
    follows it, every symlink by its target, without the OS's help (no realpath, which gives up
    past PATH_MAX): the real path inside the recipe and its entry, None when a component is
    missing. `refuse(why)` is raised when a symlink leads out (absolute, or `..` past the root) or
    into `.git`, more than MAX_SYMLINKS are followed, or the name ends in something other than a
    regular file."""
    if name.startswith("/"):  # a caller's name, never a recipe's: root / "/etc/x" is /etc/x
        raise refuse(f"{name} is an absolute path, outside the recipe")
    pending = list(reversed(PurePosixPath(name).parts)) if name else []
    done: list[str] = []
    entry, hops, via = Entry("dir"), 0, ""
    while pending:
        part = pending.pop()
        if part == ".":
            continue
        if part == "..":
            if not done:
                raise refuse(f"{via or name} leads out of the recipe")
            done.pop()
            entry = Entry("dir")
            continue
        here = "/".join([*done, part])
        if part == ".git":  # the clone's, not the recipe's: its config holds the remote's URL
            raise refuse(f"{via or here} is inside git's own folder, not the recipe")
        found = lookup(here)
        if found is None:
            return None  # nothing to read: whoever opens it fails as well
        if found.kind == "link":
            hops += 1
            if found.target is None or hops > MAX_SYMLINKS:
                raise refuse(f"{here} is a symlink cc-ci will not follow ({'unreadable' if found.target is None else 'a loop?'})")
            via = f"{here} (a symlink to {found.target})"
            if found.target.startswith("/"):
                raise refuse(f"{via} leads out of the recipe")
            pending.extend(reversed(PurePosixPath(found.target).parts))
            continue
        if pending and found.kind != "dir":
            return None  # a file used as a folder: not there
        done.append(part)
        entry = found
    if entry.kind != "file":
        what = "a folder" if entry.kind == "dir" else "not a regular file"
        raise refuse(f"{'/'.join(done) or 'the recipe itself'} is {what}")
    return "/".join(done), entry


def check_host_file(lookup: Lookup, base: str, path: str, refuse: Callable[[str], RecipeFileError]) -> None:
    """A file a deploy makes the docker CLI read on the harness host (a config's or secret's
    `file:`, an `env_file:`), `path` as compose interpolated it: the docker CLI joins it to `base`
    (the first compose file's folder) and cleans it lexically (Go's filepath.Join), then opens it.
    Refused unless that is a regular file inside the recipe; a missing one is left to docker,
    which refuses the deploy without reading anything."""
    if posixpath.isabs(path):
        raise refuse(f"{path} is an absolute path, outside the recipe")
    joined = posixpath.normpath(posixpath.join(base, path))
    if joined == ".." or joined.startswith("../"):
        raise refuse(f"{path} leads out of the recipe")
    resolve("" if joined == "." else joined, lookup, refuse)


def load_yaml(text: str, name: str) -> Any:
    """One YAML document of a recipe, safely: plain data, or RecipeFileError (past a bound, or not
    YAML) naming the file."""
    check_size(name, text, YAML_MAX_BYTES)
    loader = None
    try:
        loader = _Loader(text)  # the reader refuses control characters here already
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node, name)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as err:
        where = f"line {err.problem_mark.line + 1}: " if err.problem_mark is not None else ""
        raise NotYaml(name, f"does not parse: {where}{err.problem or err.context or 'not YAML'}", "fix the YAML") from None
    except yaml.YAMLError as err:
        raise NotYaml(name, f"does not parse: {' '.join(str(err).split())[:200]}", "fix the YAML") from None
    except (ValueError, TypeError, OverflowError) as err:  # a scalar its tag cannot hold (2020-13-45)
        why = " ".join(str(err).split(";")[0].split())[:200]
        raise NotYaml(name, f"does not load: {why}", "fix the value") from None
    except RecursionError:  # the pure-Python composer recurses per level, before our depth check
        raise _too_deep(name) from None
    finally:
        if loader is not None:
            loader.dispose()


def load_yaml_file(root: Path, name: str) -> Any:
    """`load_yaml` of a work-tree file (`read_file`: inside the recipe, within its size)."""
    return load_yaml(read_file(root, name), name)


def _check_expansion(root: yaml.Node, name: str) -> None:
    """Refuse a document whose nodes, with every alias expanded, number past YAML_MAX_NODES, that
    nests past YAML_MAX_DEPTH, or whose alias refers to a node that contains it. The composer
    shares an aliased node (it is not copied), so this walk costs what the text holds; its
    expanded size is what a consumer walking the data (str(), a merge, a label reader) pays."""
    seen: dict[int, tuple[int, int]] = {}  # node -> (expanded size, height)
    open_nodes: set[int] = set()

    def walk(node: yaml.Node, depth: int) -> tuple[int, int]:
        key = id(node)
        if key in seen:
            if depth + seen[key][1] > YAML_MAX_DEPTH:  # an aliased subtree, deeper where it is used
                raise _too_deep(name)
            return seen[key]
        if key in open_nodes:
            raise OverLimit(name, "an alias refers to a node that contains it (a recursive anchor)",
                            "write the values out instead of aliasing their parent")
        total, height = 1, 0
        if isinstance(node, yaml.CollectionNode):
            if depth >= YAML_MAX_DEPTH:
                raise _too_deep(name)
            open_nodes.add(key)
            children = node.value if isinstance(node, yaml.SequenceNode) else [n for pair in node.value for n in pair]
            for child in children:
                size, below = walk(child, depth + 1)
                total, height = total + size, max(height, below + 1)
                if total > YAML_MAX_NODES:
                    raise OverLimit(name, f"its aliases expand it past {YAML_MAX_NODES:,} YAML nodes",
                                    "write the values out or use fewer nested aliases (an alias bomb?)")
            open_nodes.discard(key)
        seen[key] = (total, height)
        return total, height

    walk(root, 0)


def _too_deep(name: str) -> OverLimit:
    return OverLimit(name, f"it nests deeper than {YAML_MAX_DEPTH} levels", "flatten it")


def _kib(size: int) -> str:
    return f"{size / KIB:,.0f} KiB" if size >= 10 * KIB else f"{size:,} bytes"
