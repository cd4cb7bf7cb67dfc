"""Pre-op seed hooks: `pre_<op>(ctx)` in `tests/<recipe>/ops.py`, called in-process right before
the orchestrator performs the op. What a hook returns is stored as `op_state[op].seed`."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from runner.errors import BadInput, InfraError
from runner.harness.app import App
from runner.harness.meta import RecipeMeta
from runner.harness.opstate import OpState
from runner.harness.proc import ExecResult
from runner.harness.pyfile import load_module

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

    def exec_in(self, service: str, cmd: list[str] | str, check: bool = True) -> ExecResult:
        """Run `cmd` in the service's running container (raises on a non-zero exit unless check=False)."""
        return self._exec(service, cmd, check=check)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def load_hooks(recipe_dir: Path, ops: tuple[str, ...]) -> dict[str, Hook]:
    """`pre_<op>` functions of `<recipe_dir>/ops.py`; an unknown `pre_*` name is bad input."""
    path = recipe_dir / "ops.py"
    if not path.is_file():
        return {}
    module = load_module(path, f"ccci_ops_{recipe_dir.name.replace('-', '_')}")
    hooks = {name.removeprefix("pre_"): getattr(module, name) for name in dir(module)
             if name.startswith("pre_") and callable(getattr(module, name))}
    unknown = sorted(set(hooks) - set(ops))
    if unknown:
        raise BadInput(f"{path.name}: pre_{unknown[0]} is not a hook; ops are {', '.join(ops)}")
    return hooks


class HookError(InfraError):
    """A pre-op hook raised; the op is not performed."""


def call_hook(hook: Hook, ctx: HookContext) -> Any:
    """Call the hook; its return value must be JSON (it goes into op state)."""
    try:
        seed = hook(ctx)
    except Exception as err:  # noqa: BLE001 - the hook's own failure, reported as the tier's error
        raise HookError(f"pre_{ctx.op} hook failed: {type(err).__name__}: {err}") from err
    finally:
        ctx.close()
    try:
        json.dumps(seed)
    except (TypeError, ValueError) as err:
        raise HookError(f"pre_{ctx.op} hook returned something that is not JSON: {err}") from None
    return seed
