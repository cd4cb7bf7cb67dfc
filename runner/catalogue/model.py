"""The catalogue's shared words: a recipe of the catalogue, the outcome of one run of it, and the
two callables the catalogue's parts are handed (`RunOne` makes a run, `Say` tells the user).

Kept free of anything that makes runs, so that the bisect (runner/catalogue/bisect.py), the
scheduler and their unit tests (with a fake `RunOne`) share one model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from runner.ops import LIFECYCLE


class CatalogueRecipe(BaseModel):
    """One entry of the catalogue file, its defaults filled in from the file's top level."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    repo: str | None = None  # a URL or a local path; None: an enrolled/bundled recipe
    ref: str | None = None  # None: the repo's default branch
    # comma-separated, as STAGES; by default what `cc-ci run` performs without STAGES
    stages: str = Field(default_factory=lambda: ",".join(LIFECYCLE.default_stages))


@dataclass(frozen=True)
class RunOutcome:
    """What one ordinary run left: its level and verdict (from its results.json), where it is.

    `exit_code` is the run's own (3: the run could not be made — infrastructure); `target` is where
    it ran; `commit` the sha it tested (None when it never got that far).
    """

    level: int
    verdict: str  # pass | fail | error | empty
    run_id: str
    run_dir: Path
    exit_code: int = 0
    commit: str | None = None
    target: str = "local"
    error: str | None = None  # the run's one-line error, when it had one

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"


# Runs one ordinary run of the recipe at `commit` (a sha or ref) with `stages`; returns its outcome.
RunOne = Callable[[CatalogueRecipe, str, str], RunOutcome]
# Tells the user one line of progress.
Say = Callable[[str], None]
