"""Reading a recipe's files within bounds: the one way the harness reads a recipe's compose files,
`.env.sample` and `abra.sh`, and the one YAML loader for what they hold.

A PR's recipe is untrusted input. A 435-byte compose file of nested aliases expands to hundreds of
millions of nodes in whatever walks it; a 50 MB `.env.sample` ends up in a subprocess environment
past the kernel's limit. So each file has a size limit, checked before its text is read, and the
YAML loader refuses documents whose aliases expand past a node budget or that nest too deep.
Every refusal is `RecipeFileError` (bad input, exit 2): one line naming the file and what to do;
OverLimit past a bound, NotYaml for what a safe loader cannot construct, NotText for bytes that
are not UTF-8.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from runner.errors import BadInput, ExecError
from runner.harness import git

KIB = 1024
YAML_MAX_BYTES = 256 * KIB  # each compose file of the chain; real ones are a few KiB
ENV_MAX_BYTES = 64 * KIB  # .env.sample, and its values after expansion, in all
ABRA_SH_MAX_BYTES = 64 * KIB  # abra.sh; its exports join the env of every docker call
# The env ends up in a subprocess's environment: Linux refuses one variable past 128 KiB and all of
# them past ARG_MAX (2 MiB by default); the two 64 KiB limits keep a run well inside both.
YAML_MAX_NODES = 100_000  # nodes of a document with every alias expanded (the alias-bomb bound)
YAML_MAX_DEPTH = 64  # nesting of collections; compose files nest fewer than ten deep

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
    """A recipe file's text at `ref`, or None when it is not there. Its size is asked of git
    first, so an oversized file is refused (OverLimit) without reading it into memory.
    `shown` names the file in a refusal (default: `at(ref, name)`)."""
    shown = shown or at(ref, name)
    try:
        size = int(git.git(checkout, "cat-file", "-s", f"{ref}:{name}"))
    except ExecError:
        return None
    if size > limit_for(name):
        raise too_big(shown, size)
    try:
        return git.show_file(checkout, ref, name)
    except UnicodeDecodeError as err:
        raise _not_text(shown, err) from None


def read_file(path: Path, name: str) -> str:
    """A recipe file of a checkout's work tree ('' when absent), refused past its limit before
    it is read."""
    if not path.is_file():
        return ""
    size = path.stat().st_size
    if size > limit_for(name):
        raise too_big(name, size)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise _not_text(name, err) from None


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


def load_yaml_file(path: Path, name: str) -> Any:
    """`load_yaml` of a work-tree file, refused past its size before it is read."""
    return load_yaml(read_file(path, name), name)


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
