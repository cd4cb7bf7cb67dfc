"""Op state: what each op produced, one JSON file per run, read by the assertion fixtures.

Written atomically after every op, so an assertion file always reads a whole state.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
)

from runner.plumbing.fileio import write_text_atomic
from runner.run.app import Deployment
from runner.run.readback import invalid_why, read_json
from runner.run.rundir import RunFileUnreadable


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
    # taken by the server's backup bot (the abra driver, `abra app backup create`): the bot's own id
    # for its snapshot, which stays on the server; `id` is the run's copy (`abra app backup download`)
    bot_snapshot: str | None = None

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
    bot_snapshot: str | None = None  # written back by the server's backup bot, from its snapshot of this id


class MountIdentity(BaseModel):
    """What a service mounts at one path: a volume (`source`: its docker name, `<stack>_<volume>`
    for the stack's own), a bind (the host path), a tmpfs (no source)."""

    type: str  # docker's Mount.Type: volume, bind, tmpfs, npipe, cluster
    source: str = ""  # empty for a tmpfs or an anonymous volume


class ServiceIdentity(BaseModel):
    """One service of the app as the swarm knows it."""

    id: str  # a service removed and created again gets a new id
    version: int  # the spec's version index: every update of the service raises it
    updated_at: str
    # by the path in the container: a release that mounts another volume there starts the app on
    # other data (empty when the op state was written before mounts were recorded)
    mounts: dict[str, MountIdentity] = Field(default_factory=dict)


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


class OpPlan(BaseModel):
    """What an op's `plan` decided before anything was deployed (the upgrade's base and hops). An op
    with a plan subclasses it and names the subclass on its record (`OpRecord.plan_model`); in
    op_state.json its fields sit at the top, beside `run_id`, and read as the state's own (`state.base`)."""

    model_config = ConfigDict(extra="forbid")

    @property
    def first_ref(self) -> str | None:
        """The ref the app must be created and first deployed at instead of the head; None: the head."""
        return None


class OpRecord(BaseModel):
    """What every op's record holds. An op with fields of its own subclasses it and names the
    subclass in its spec (`OpSpec.record`); op_state.json is loaded back with each op's model."""

    model_config = ConfigDict(extra="forbid")  # a field another op's record has is a mistake, not dropped
    plan_model: ClassVar[type[OpPlan] | None] = None  # what the op's `plan` decides, if it plans anything

    op: str
    seed: Any = None  # what the pre-op hook returned
    post_seed: Any = None  # what the post-op hook returned (it ran after the op, before its tier)
    deployment: Deployment | None = None
    deploy_count: int = 0  # stacks the app's deploys created so far, as docker saw it (1 through an in-place upgrade)
    identity: AppIdentity | None = None  # the app as docker saw it right after this op (install, upgrade)
    witnesses: list[Witness] = Field(default_factory=list)  # planted by this op (install: one per volume root)
    notes: list[str] = Field(default_factory=list)  # warnings and information for the console and reports
    # what an operator must act on before doing this op to a real app (a new secret to generate):
    # not a failure, shown with the run (results.json `upgrade_notes`, summary, PR, run page)
    upgrade_notes: list[str] = Field(default_factory=list)
    duration_s: float = 0.0

    def planted(self) -> list[Witness]:
        """Every witness file this op planted (teardown removes them first)."""
        return list(self.witnesses)


class _UnknownOpRecord(OpRecord):
    """An op the loader has no model for (e.g. one a test defines): its fields kept as they are."""

    model_config = ConfigDict(extra="allow")


R = TypeVar("R", bound=OpRecord)
P = TypeVar("P", bound=OpPlan)
STEP = "@"  # `<op>@<step>`: one step of an op performed in steps (an upgrade chain's hop), its op's model


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
    # each op's plan, by op (`fresh_plans`): in op_state.json their fields stand here, at the top level
    plans: dict[str, SerializeAsAny[OpPlan]] = Field(default_factory=dict)
    ops: dict[str, SerializeAsAny[OpRecord]] = Field(default_factory=dict)  # each op's own record model

    @model_serializer(mode="wrap")
    def _plans_at_the_top(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The plans' fields in place of `plans`: the file's shape is the one assertion files read."""
        flat: dict[str, Any] = {}
        for key, value in handler(self).items():
            if key == "plans":
                flat.update(field for plan in value.values() for field in plan.items())
            else:
                flat[key] = value
        return flat

    if TYPE_CHECKING:
        def __getattr__(self, name: str) -> Any: ...  # a plan's field, as op_state.json shows it (`state.base`)
    else:
        def __getattr__(self, name):
            plans = self.__dict__.get("plans") or {}
            if any(name in type(plan).model_fields for plan in plans.values()):
                return self.plan_field(name)
            return super().__getattr__(name)

    def plan_field(self, name: str) -> Any:
        """A plan's field by its name in op_state.json (`base`); None when no op of the run plans it."""
        return next((getattr(plan, name) for plan in self.plans.values() if name in type(plan).model_fields), None)

    def __getitem__(self, op: str) -> OpRecord:
        try:
            return self.ops[op]
        except KeyError:
            raise OpNotRun(op, self.stages) from None

    def __contains__(self, op: object) -> bool:
        return op in self.ops

    def get(self, op: str) -> OpRecord | None:
        return self.ops.get(op)

    def of(self, op: str, model: type[R]) -> R | None:
        """The op's record as its own model (`state.of("backup", BackupRecord)`), None when it did not run."""
        record = self.ops.get(op)
        return record if isinstance(record, model) else None

    def plan_of(self, op: str, model: type[P]) -> P:
        """What the op's plan decided, as its own model (a fresh one while it has not planned)."""
        plan = self.plans.get(op)
        return plan if isinstance(plan, model) else model()

    @property
    def first_ref(self) -> str:
        """The ref the app is created and first deployed at: the one a plan put first (the upgrade
        base), else the head."""
        return next((ref for plan in self.plans.values() if (ref := plan.first_ref)), self.head_commit)

    def witnesses(self) -> list[Witness]:
        """Every witness file any op planted (what teardown removes first)."""
        found = [w for r in self.ops.values() for w in r.planted()]
        return list({w.key: w for w in found}.values())

    def latest_deployment(self) -> Deployment | None:
        """What is live now: the newest deployment any op recorded."""
        deployed = [r.deployment for r in self.ops.values() if r.deployment is not None]
        return deployed[-1] if deployed else None

    def save(self, path: Path) -> None:
        write_text_atomic(path, self.model_dump_json(indent=2) + "\n")

    @classmethod
    def load(cls, path: Path, records: Mapping[str, type[OpRecord]]) -> OpState:
        """op_state.json with each op's record read by its own model (`Lifecycle.records`).
        Raises RunFileUnreadable, naming the file and why, when it is missing or damaged."""
        data = read_json(path.parent, path.name)
        if not isinstance(data, dict) or not isinstance(data.get("ops", {}), dict):
            why = "missing" if data is None else "not an object with an object of ops"
            raise RunFileUnreadable(path.name, why)
        try:
            ops = {op: records.get(op.partition(STEP)[0], _UnknownOpRecord).model_validate(raw)
                   for op, raw in data.get("ops", {}).items()}
            models = {op: type(plan) for op, plan in fresh_plans(records).items()}
            plans = {op: model.model_validate({k: data[k] for k in model.model_fields if k in data})
                     for op, model in models.items()}
            return cls.model_validate({**data, "plans": plans, "ops": ops})
        except ValidationError as err:
            raise RunFileUnreadable(path.name, invalid_why(err)) from None


def fresh_plans(records: Mapping[str, type[OpRecord]]) -> dict[str, OpPlan]:
    """Each planning op's plan as it stands before it planned (`Lifecycle.records`): a run's op_state.json
    holds every plan's fields, whichever ops run."""
    return {op: record.plan_model() for op, record in records.items() if record.plan_model is not None}
