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


WITNESS_PREFIX = ".cc-ci-witness-"  # the name of every witness file starts so


class Witness(BaseModel):
    """A file the harness planted in a volume (never through the app's container). The app never
    touches it, so it proves a snapshot or a restore however busy the app is."""

    volume: str  # the volume's name in the recipe
    path: str  # relative to the volume root: `<dir>/.cc-ci-witness-<hex>`
    sha256: str  # of the content as planted; the backup changes it once the snapshot is taken

    @property
    def key(self) -> tuple[str, str]:
        return self.volume, self.path


class Snapshot(BaseModel):
    """What the backup op produced."""

    id: str
    repository: str  # the restic repository (its password is in a 0600 file next to it)
    export: str  # <run dir>/backups/<id>.tar.gz, laid out as /var/lib/docker/volumes/<stack>_<vol>/_data/...
    volumes: dict[str, list[str]]  # volume -> paths taken ([] = the whole volume)
    excluded: list[str] = Field(default_factory=list)  # volumes of the stack left out by labels
    missing: list[str] = Field(default_factory=list)  # `vol:path` that a label limits to but was not there
    files: list[BackedUpFile] = Field(default_factory=list)
    stack_volumes: list[str] = Field(default_factory=list)  # every volume the stack's services mounted
    docker_volumes: dict[str, str] = Field(default_factory=dict)  # each of stack_volumes -> its docker name
    witnesses: list[Witness] = Field(default_factory=list)  # planted before the pre-hooks, changed after
    label_notes: list[str] = Field(default_factory=list)  # what the labels' reading found wrong or odd

    @property
    def password_file(self) -> str:
        """The repository's password (mode 0600): RESTIC_PASSWORD_FILE for `restic -r <repository>`."""
        return str(Path(self.repository).with_name(PASSWORD_FILE))


class RestoreRecord(BaseModel):
    snapshot_id: str
    volumes: list[str]
    files: int  # regular files written back
    duration_s: float
    # read back right after writing, before the post-restore hooks and before the app is given time:
    verified: int = 0  # byte-identical to the snapshot
    rewritten_by_app: list[str] = Field(default_factory=list)  # `vol:path` the app wrote since the restore began
    mismatched: list[str] = Field(default_factory=list)  # `vol:path (why)` not as taken, and not by the app
    # once the app converged: files that differ from the snapshot (information, never a failure)
    changed_by_app: list[str] = Field(default_factory=list)


class ServiceIdentity(BaseModel):
    """One service of the app as the swarm knows it."""

    id: str  # a service removed and created again gets a new id
    version: int  # the spec's version index: every update of the service raises it
    updated_at: str


class VolumeIdentity(BaseModel):
    name: str  # `<stack>_<volume>`
    # docker's CreatedAt, kept for information only: for the local driver it is the ctime of the
    # volume's `_data` dir, which moves whenever a file is added at the volume's root (the data's
    # continuity is what the install witness proves)
    created_at: str


class AppIdentity(BaseModel):
    """What docker says the app is, read from the swarm after an op: the proof an upgrade stayed
    in place comes from here, never from a counter the harness keeps itself."""

    stack: str
    services: dict[str, ServiceIdentity] = Field(default_factory=dict)  # by name in the recipe
    volumes: dict[str, VolumeIdentity] = Field(default_factory=dict)  # by full name


class OpRecord(BaseModel):
    op: str
    seed: Any = None  # what the pre-op hook returned
    post_seed: Any = None  # what the post-op hook returned (it ran after the op, before its tier)
    deployment: Deployment | None = None
    deploy_count: int = 0  # stacks the app's deploys created so far, as docker saw it (1 through an in-place upgrade)
    base: str | None = None  # the release an upgrade started from
    base_reason: str | None = None
    env_diff: EnvDiff | None = None
    snapshot: Snapshot | None = None
    restore: RestoreRecord | None = None
    identity: AppIdentity | None = None  # the app as docker saw it right after this op (install, upgrade)
    declared_version: str | None = None  # the version label the deployed ref's compose declares (upgrade)
    declared_services: list[str] | None = None  # the services the deployed ref's compose declares (upgrade)
    no_snapshot: str | None = None  # why the backup took no snapshot (a recipe finding its floor reports)
    witnesses: list[Witness] = Field(default_factory=list)  # planted by this op (install: one per volume root)
    notes: list[str] = Field(default_factory=list)  # warnings and information for the console and reports
    duration_s: float = 0.0


class OpNotRun(KeyError):
    """An assertion file read an op that this run did not perform."""

    def __init__(self, op: str, stages: list[str]) -> None:
        super().__init__(op)
        self.op, self.stages = op, stages

    def __str__(self) -> str:
        return (f"op {self.op!r} did not run in this run"
                + (f" (STAGES={','.join(self.stages)})" if self.stages else "")
                + f": check `\"{self.op}\" in op_state` first, or add {self.op} to STAGES")


class OpState(BaseModel):
    run_id: str
    recipe: str
    head_commit: str  # the PR head under test
    stages: list[str] = Field(default_factory=list)  # the run's STAGES, for saying what did not run
    base: str | None = None  # the first deploy's release when upgrading, else None
    base_reason: str | None = None
    ops: dict[str, OpRecord] = Field(default_factory=dict)

    def __getitem__(self, op: str) -> OpRecord:
        try:
            return self.ops[op]
        except KeyError:
            raise OpNotRun(op, self.stages) from None

    def __contains__(self, op: object) -> bool:
        return op in self.ops

    def get(self, op: str) -> OpRecord | None:
        return self.ops.get(op)

    @property
    def first_ref(self) -> str:
        """The ref the app is created and first deployed at: the upgrade base, else the head."""
        return self.base or self.head_commit

    def witnesses(self) -> list[Witness]:
        """Every witness file any op planted (what teardown removes first)."""
        found = [w for r in self.ops.values() for w in [*r.witnesses, *(r.snapshot.witnesses if r.snapshot else [])]]
        return list({w.key: w for w in found}.values())

    def latest_deployment(self) -> Deployment | None:
        """What is live now: the newest deployment any op recorded."""
        deployed = [r.deployment for r in self.ops.values() if r.deployment is not None]
        return deployed[-1] if deployed else None

    def save(self, path: Path) -> None:
        write_text_atomic(path, self.model_dump_json(indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> OpState:
        return cls.model_validate_json(path.read_text())
