"""A mistake in a maintainer's Python file, told against their own file and line.

Runs import copies of the maintainer's files (the run's tier tests folder, deleted with the run
dir); an exception's traceback names those copies and pytest's or cc-ci's own frames around
them. A `Problem` keeps only the frames in the maintainer's files, each named by `shown(path)`:
`tests/<recipe>/ops.py`, `cc-ci/test_install.py`, or the CCCI_OVERLAY_DIR path. Pure.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from runner.errors import BadInput

COLLECT_REPORT_VAR = "CCCI_COLLECT_REPORT"  # where runner.maintainer.collectcheck writes what collecting found

Shown = Callable[[Path], "str | None"]  # a run-copy path -> the maintainer's name for it; None: not theirs


@dataclass(frozen=True)
class Frame:
    file: str
    line: int
    function: str
    text: str = ""


@dataclass(frozen=True)
class Problem:
    """`file:line: error`, the offending line with a caret under the column (syntax errors),
    and the traceback through the maintainer's own files, outermost first."""

    file: str
    error: str  # "SyntaxError: invalid syntax"
    line: int | None = None
    column: int | None = None  # 1-based; syntax errors only
    text: str = ""
    frames: list[Frame] = field(default_factory=list)
    context: str = ""  # what was being done: "importing", "pre_custom hook"

    def headline(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.context + ': ' if self.context else ''}{self.error}"

    def lines(self) -> list[str]:
        out = [self.headline()]
        if self.text:
            out.append(f"    {self.text}")
            if self.column:  # the text is the line as written, so the column lines up
                out.append("    " + " " * (self.column - 1) + "^")
        if len(self.frames) > 1:
            out.append("  traceback, your files only (most recent call last):")
            out += [f"    {f.file}:{f.line} in {f.function}" + (f": {f.text}" if f.text else "") for f in self.frames]
        return out

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Problem:
        return cls(**{**data, "frames": [Frame(**f) for f in data.get("frames", [])]})


def from_exception(err: BaseException, shown: Shown, fallback: str, context: str = "") -> Problem:
    """The problem `err` is, located in the innermost of the maintainer's frames (or, for a
    syntax error, where the parser stopped); `fallback` names the file when no frame is theirs."""
    error = f"{type(err).__name__}: {_message(err)}"
    frames = [Frame(name, summary.lineno or 0, summary.name, (summary.line or "").strip())
              for summary in traceback.extract_tb(err.__traceback__)
              if (name := shown(Path(summary.filename))) is not None]
    if isinstance(err, SyntaxError) and err.filename and (name := shown(Path(err.filename))) is not None:
        text = (err.text or "").rstrip("\n")
        return Problem(name, error, err.lineno, err.offset, text, frames, context)
    if frames:
        last = frames[-1]
        return Problem(last.file, error, last.line, None, last.text, frames, context)
    return Problem(fallback, error, context=context)


# a `.py` path as pytest writes it (`x.py:3:`, `x.py::test`, `collecting x.py _`): relative to its
# rootdir (the run's tier tests folder, `<recipe>/test_x.py`) or absolute
_PY_PATH = re.compile(r"(?<![\w/.-])(/?[\w.-]+(?:/[\w.-]+)*\.py)(?=:|\s|$)", re.MULTILINE)


def name_paths(text: str, root: Path, shown: Shown) -> str:
    """`text` (a tier's pytest output, its JUnit report) with every path into the run's tier
    tests folder `root` named as the maintainer knows the file (`cc-ci/test_install.py`,
    `tests/<recipe>/…`, `tests/_generic/…`); other paths (pytest's, cc-ci's) as they were."""
    def named(match: re.Match[str]) -> str:
        path = Path(match.group(1))
        full = path if path.is_absolute() else root / path
        if not full.resolve().is_relative_to(root.resolve()) or not full.is_file():
            return match.group(1)
        return shown(full) or match.group(1)
    return _PY_PATH.sub(named, text)


def _message(err: BaseException) -> str:
    if isinstance(err, SyntaxError):
        return err.msg
    return str(err)


def in_folder(path: Path, shown: str | Shown | None) -> Shown:
    """`shown` as a function: a name for `path` (`tests/<recipe>/ops.py`) also names the files
    beside it (`tests/<recipe>/_helpers.py`); None names them by their own paths."""
    if callable(shown):
        return shown
    folder, name = path.parent.resolve(), shown or str(path)
    base = name.rpartition("/")[0] if "/" in name else ""

    def named(other: Path) -> str | None:
        full = other.resolve()
        if full == path.resolve():
            return name
        if not full.is_relative_to(folder):
            return None
        rel = full.relative_to(folder).as_posix()
        return f"{base}/{rel}" if base else rel
    return named


class MaintainerFileError(BadInput):
    """A maintainer's Python file raised while being imported: the problem, in their file."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.headline())
        self.problem = problem
