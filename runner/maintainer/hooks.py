"""Seed hooks in `tests/<recipe>/ops.py`, called in-process by the orchestrator: `pre_<op>(ctx)`
right before it performs the op, `post_<op>(ctx)` right after it (before the op's tier). What a
hook returns is stored as `op_state[op].seed` (pre) or `op_state[op].post_seed` (post). Hooks
seed; assertion files assert."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.errors import BadInput, InfraError
from runner.maintainer.meta import RecipeMeta
from runner.maintainer.problems import Problem, Shown, from_exception, in_folder
from runner.maintainer.pyfile import load_module
from runner.plumbing.proc import ExecResult
from runner.run.app import App
from runner.run.opstate import OpState

if TYPE_CHECKING:
    import httpx  # loaded while the first op waits on docker (orchestrator), not at start-up

Hook = Callable[["HookContext"], Any]


@dataclass
class HookContext:
    """What a hook is handed: the app, ways to reach it, the op state so far and the meta."""

    op: str
    app: App
    op_state: OpState
    meta: RecipeMeta
    _exec: Callable[..., ExecResult]
    _http: Callable[[], httpx.Client]
    _client: httpx.Client | None = field(default=None, repr=False)
    # what each dependency's `provision` returned for this run, by its name (recipe_meta.py's DEPS)
    deps: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)

    @property
    def domain(self) -> str:
        return self.app.domain

    @property
    def stack(self) -> str:
        return self.app.stack

    @property
    def http(self) -> httpx.Client:
        """An HTTP client for the app (`Host: <domain>`), made on first use."""
        if self._client is None:
            self._client = self._http()
        return self._client

    def service_address(self, service: str) -> str:
        """The service's name on the shared `proxy` network, by which another stack's containers
        reach it (`http://<it>:<port>/`): it resolves to the service's containers (endpoint_mode
        dnsrr where the host has no IPVS, as cc-ci deploys them there), never through ingress."""
        return f"{self.app.stack}_{service}"

    def exec_in(self, service: str, cmd: list[str] | str, check: bool = True) -> ExecResult:
        """Run `cmd` in the service's running container (raises on a non-zero exit unless check=False)."""
        return self._exec(service, cmd, check=check)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


WHENS = ("pre", "post")


@dataclass(frozen=True)
class Hooks:
    """The hooks of a recipe's ops.py, by op; `shown` names its files as the maintainer knows them."""

    pre: dict[str, Hook] = field(default_factory=dict)
    post: dict[str, Hook] = field(default_factory=dict)
    shown: Shown | None = field(default=None, compare=False)


def load_hooks(recipe_dir: Path, ops: tuple[str, ...], shown: str | Shown | None = None) -> Hooks:
    """`pre_<op>` and `post_<op>` functions of `<recipe_dir>/ops.py`; a `pre_*`/`post_*` name
    that is not a hook is bad input, with a did-you-mean."""
    path = recipe_dir / "ops.py"
    if not path.is_file():
        return Hooks()
    named = in_folder(path, shown or path.name)
    module = load_module(path, f"ccci_ops_{recipe_dir.name.replace('-', '_')}", named)
    found: dict[str, dict[str, Hook]] = {when: {} for when in WHENS}
    by_ident = {op.replace("-", "_"): op for op in ops}  # pre_restore_fresh is restore-fresh's hook
    for name in dir(module):
        when, _, ident = name.partition("_")
        if when not in WHENS or not ident or not callable(getattr(module, name)):
            continue
        op = by_ident.get(ident, ident)
        if op not in ops:
            line = getattr(getattr(module, name), "__code__", None)
            where = f"{named(path)}:{line.co_firstlineno}" if line else named(path)
            raise BadInput(f"{where}: {not_a_hook(name, ops)}")
        found[when][op] = getattr(module, name)
    return Hooks(pre=found["pre"], post=found["post"], shown=named)


def not_a_hook(name: str, ops: tuple[str, ...]) -> str:
    """Why a `pre_*`/`post_*` function is refused, with what was probably meant."""
    valid = [f"{w}_{o.replace('-', '_')}" for w in WHENS for o in ops]
    near = difflib.get_close_matches(name, valid, n=1)
    hint = f"did you mean {near[0]}?" if near else f"hooks are pre_<op> and post_<op>, ops are {', '.join(ops)}"
    return f"{name} is not a hook ({hint})"


HOOK_DEF = re.compile(r"^(?:async\s+)?def\s+((?:pre|post)_\w+)\s*\(", re.MULTILINE)


def misnamed_hooks_in_text(source: str, ops: tuple[str, ...]) -> list[tuple[int, str]]:
    """(line, why) for each `def pre_/post_<name>` whose op does not exist, read from the text
    alone: for an ops.py that cannot be imported (a syntax error), so the check still names them."""
    return [(source.count("\n", 0, m.start()) + 1, not_a_hook(m.group(1), ops))
            for m in HOOK_DEF.finditer(source)
            if m.group(1).partition("_")[2] not in {op.replace("-", "_") for op in ops}]


class HookError(InfraError):
    """A hook raised: a pre-op hook's op is not performed; a post-op hook's tier does not run.
    `problem` locates it in the maintainer's files, with their frames of the traceback."""

    def __init__(self, message: str, problem: Problem | None = None) -> None:
        super().__init__(message)
        self.problem = problem


def call_hook(hook: Hook, ctx: HookContext, when: str = "pre", shown: Shown | None = None) -> Any:
    """Call the hook; its return value must be JSON (it goes into op state)."""
    name = f"{when}_{ctx.op}"
    try:
        seed = hook(ctx)
    except Exception as err:  # noqa: BLE001 - the hook's own failure, reported as the tier's error
        problem = from_exception(err, shown or _own_file(hook), "ops.py", f"{name} hook")
        where = f" ({problem.file}:{problem.line})" if problem.line else ""
        raise HookError(f"{name} hook failed: {type(err).__name__}: {err}{where}", problem) from err
    finally:
        ctx.close()
    try:
        json.dumps(seed)
    except (TypeError, ValueError) as err:
        raise HookError(f"{name} hook returned something that is not JSON: {err}") from None
    return seed


def _own_file(hook: Hook) -> Shown:
    """Without names from the run: the hook's own file and those beside it, by their paths."""
    code = getattr(hook, "__code__", None)
    return in_folder(Path(code.co_filename), None) if code else (lambda _path: None)
