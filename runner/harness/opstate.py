"""Op state: what each op produced, one JSON file per run, read by the assertion fixtures.

Written atomically after every op, so an assertion file always reads a whole state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from runner.harness.app import Deployment
from runner.harness.fileio import write_text_atomic


class EnvDiff(BaseModel):
    """How an upgrade changed the app env."""

    added: dict[str, str] = Field(default_factory=dict)  # keys the head's .env.sample added
    changed: dict[str, tuple[str, str]] = Field(default_factory=dict)  # key -> (before, after)
    kept: dict[str, tuple[str, str]] = Field(default_factory=dict)  # app value kept over the head's sample


PASSWORD_FILE = "restic-password"  # next to the restic repository, in <run dir>/backups


class BackedUpFile(BaseModel):
    volume: str  # the volume's name in the recipe (`content`), not the stack's (`<stack>_content`)
    path: str  # relative to the volume root
    size: int
    sha256: str


class Snapshot(BaseModel):
    """What the backup op produced."""

    id: str
    repository: str  # the restic repository (its password is in a 0600 file next to it)
    export: str  # <run dir>/backups/<id>.tar.gz, laid out as /var/lib/docker/volumes/<stack>_<vol>/_data/...
    volumes: dict[str, list[str]]  # volume -> paths taken ([] = the whole volume)
    excluded: list[str] = Field(default_factory=list)  # volumes of the stack left out by labels
    missing: list[str] = Field(default_factory=list)  # `vol:path` that a label limits to but was not there
    files: list[BackedUpFile] = Field(default_factory=list)

    @property
    def password_file(self) -> str:
        """The repository's password (mode 0600): RESTIC_PASSWORD_FILE for `restic -r <repository>`."""
        return str(Path(self.repository).with_name(PASSWORD_FILE))


class RestoreRecord(BaseModel):
    snapshot_id: str
    volumes: list[str]
    files: int
    duration_s: float


class OpRecord(BaseModel):
    op: str
    seed: Any = None  # what the pre-op hook returned
    deployment: Deployment | None = None
    deploy_count: int = 0  # the app's deploy count after this op (stays 1 through an upgrade)
    base: str | None = None  # the release an upgrade started from
    base_reason: str | None = None
    env_diff: EnvDiff | None = None
    snapshot: Snapshot | None = None
    restore: RestoreRecord | None = None
    duration_s: float = 0.0


class OpState(BaseModel):
    run_id: str
    recipe: str
    head_commit: str  # the PR head under test
    base: str | None = None  # the first deploy's release when upgrading, else None
    base_reason: str | None = None
    ops: dict[str, OpRecord] = Field(default_factory=dict)

    def __getitem__(self, op: str) -> OpRecord:
        return self.ops[op]

    def __contains__(self, op: object) -> bool:
        return op in self.ops

    def get(self, op: str) -> OpRecord | None:
        return self.ops.get(op)

    def latest_deployment(self) -> Deployment | None:
        """What is live now: the newest deployment any op recorded."""
        deployed = [r.deployment for r in self.ops.values() if r.deployment is not None]
        return deployed[-1] if deployed else None

    def save(self, path: Path) -> None:
        write_text_atomic(path, self.model_dump_json(indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> OpState:
        return cls.model_validate_json(path.read_text())
