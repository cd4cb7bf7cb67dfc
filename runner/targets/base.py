"""What every target provides: where the swarm is, and everything that touches it.

A driver performs lifecycle operations; a target reaches the swarm for it, for the ops, the hooks,
the assertion fixtures and gc: a docker client, host commands (the docker CLI with the right
DOCKER_HOST), exec in an app's container with the durable output capture, file transfer in and out
of volumes through a helper container, HTTP to the app as its proxy would send it, and what the
swarm says of an app whichever driver deployed it (its labels, convergence, identity, the files
of its volumes). Adding a target means one module implementing `Target` (with `open` from the
run's settings and `attach` from its description) and one line in the registry
(`runner/run/registry.py`: its class and the CCCI_DOCKER_HOST that chooses it).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Self

import docker
from docker.models.containers import Container

from runner.plumbing import timing
from runner.plumbing.proc import ExecResult, run_host
from runner.run.app import App
from runner.run.opstate import AppIdentity, BackedUpFile, Witness
from runner.swarm import backup as swarm_backup
from runner.swarm import progress, stack
from runner.swarm.identity import deployed_identity
from runner.swarm.reach import EXEC_RETRY_S, exec_in_app
from runner.swarm.reach import http_client as reach_http_client
from runner.swarm.stamp import Heartbeat
from runner.swarm.volumes import helper_container

if TYPE_CHECKING:
    import httpx  # loaded while the first op waits on docker (orchestrator), not at start-up

    from runner.run.config import TargetSettings


class Target(Protocol):
    name: str  # the kind: local, ssh
    address: str  # what CCCI_DOCKER_HOST said: `local`, `ssh://user@host:port`
    host_id: str  # this harness host's identity, for the labels of what a run makes

    @property
    def client(self) -> docker.DockerClient:
        """The docker client of the swarm manager (one per run, reused)."""
        ...

    def host_env(self) -> dict[str, str]:
        """The environment a docker CLI on the harness host needs to reach the swarm (DOCKER_HOST)."""
        ...

    def run_host(self, cmd: Sequence[str], *, cwd: Path | None, env: dict[str, str]) -> ExecResult:
        """A host command (`docker stack deploy …`) with `env` and the target's DOCKER_HOST; not checked."""
        ...

    def run_on_node(self, argv: list[str]) -> ExecResult:
        """A command on the swarm manager's own host (the local host, or over SSH); not checked."""
        ...

    def exec_in(self, app: App, service: str, cmd: list[str] | str, *, check: bool = True,
                rerun_if_output_lost: bool = False) -> ExecResult:
        """Run `cmd` in the service's running container; retried while it cycles, raises
        ExecError on a non-zero exit unless `check=False`. Output the engine lost raises
        OutputLost, unless the command only reads (`rerun_if_output_lost`): then it runs again."""
        ...

    def http_client(self, app: App, service: str | None = None, port: int | None = None, *,
                    retry_s: float = EXEC_RETRY_S) -> httpx.Client:
        """A client that reaches the app as its proxy would (`Host: <domain>`): a container of
        `service` on `port`, by default where the proxy sends the app's domain. Raises
        InfraError when the service has no running container to reach within `retry_s`."""
        ...

    def volume_helper(self, stack: str, docker_volumes: list[str],
                      read_only: bool) -> contextlib.AbstractContextManager[Container]:
        """A helper container on the node that mounts the volumes at
        /var/lib/docker/volumes/<name>/_data: `get_archive` streams files out, `put_archive` in."""
        ...

    def heartbeat(self, app: App) -> contextlib.AbstractContextManager[object]:
        """Keep the run's stamp fresh on the swarm while the block runs (`runner/swarm/stamp.py`)."""
        ...

    def description(self) -> dict[str, Any]:
        """What a tier's pytest process needs to reach the same swarm (`attach_target`)."""
        ...

    def close(self) -> None:
        ...

    # -- what the swarm says of an app, for the ops, the hooks and the fixtures --------------

    def unconverged(self, app: App) -> list[str]:
        """One line per service that has not converged; empty when all have."""
        ...

    def service_labels(self, app: App) -> dict[str, dict[str, str]]:
        """Deploy labels of every service of the app, by service name (without the stack prefix)."""
        ...

    def deployed_identity(self, app: App) -> AppIdentity:
        """The app as the swarm knows it now: its stack, each service's id and spec version, each
        volume's name and creation time. Read without changing anything."""
        ...

    def backup_unsupported(self, app: App) -> str | None:
        """Why the deployed app cannot be backed up (no `backupbot.backup=true`), else None."""
        ...

    # -- the app's volumes, never through its containers ------------------------------------

    def volume_files(self, app: App) -> dict[str, list[BackedUpFile]]:
        """Every regular file of every volume of the app (by the volume's name in the recipe),
        with size and sha256, read without changing anything: what the restore compares the
        snapshot with once the app has converged (the app's changes, for its note)."""
        ...

    def plant_witnesses(self, app: App) -> list[Witness]:
        """Plant one witness file in the root of every volume of the app."""
        ...

    def file_digests(self, app: App, files: list[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
        """The sha256 of each (volume, path) now, None where there is no such file; reads only."""
        ...


def counting_waits(client: docker.DockerClient) -> docker.DockerClient:
    """The client, each of whose requests to the engine counts as waiting on docker (plumbing.timing)
    while the process's main thread makes it: the run's own path, in the run and in its tiers alike.
    A background thread's requests (the camera's, the heartbeat's, the event watch's) do not count:
    they would hide what the main thread does meanwhile. A streamed body (exec output, an archive) is
    read after its request returns: where that is a wait, its caller counts it (swarm/volumes.py)."""
    send = client.api.send
    main = threading.main_thread()

    def timed_send(request: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is not main:
            return send(request, **kwargs)
        with timing.waiting("docker"):
            return send(request, **kwargs)

    client.api.send = timed_send  # type: ignore[method-assign]
    return client


class DockerTarget:
    """What every target built on a docker client shares: exec, volumes and HTTP go through the
    client's API; a subclass gives the client, the CLI's DOCKER_HOST and the HTTP transport."""

    name = ""
    address = ""
    host_id = ""

    @classmethod
    def open(cls, settings: TargetSettings) -> Self:
        """The run's target, connected, from the run's settings (`open_target`)."""
        return cls()

    @classmethod
    def attach(cls, description: dict[str, Any]) -> Self:
        """The run's target in a tier's process, from what `description()` wrote (`attach_target`)."""
        return cls()

    @property
    def client(self) -> docker.DockerClient:
        raise NotImplementedError

    def host_env(self) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if k.startswith("DOCKER_")}

    def http_transport(self) -> httpx.BaseTransport | None:
        """How HTTP gets to a container's gwbridge address; None: straight from this host."""
        return None

    def run_host(self, cmd: Sequence[str], *, cwd: Path | None, env: dict[str, str]) -> ExecResult:
        return run_host(cmd, cwd=cwd, env={k: v for k, v in env.items() if not k.startswith("DOCKER_")}
                        | self.host_env(), check=False)

    def run_on_node(self, argv: list[str]) -> ExecResult:
        return run_host(argv, check=False)

    def exec_in(self, app: App, service: str, cmd: list[str] | str, *, check: bool = True,
                rerun_if_output_lost: bool = False) -> ExecResult:
        return exec_in_app(self.client, app.stack, service, cmd, check=check,
                                 rerun_if_output_lost=rerun_if_output_lost)

    def http_client(self, app: App, service: str | None = None, port: int | None = None, *,
                    retry_s: float = EXEC_RETRY_S) -> httpx.Client:
        return reach_http_client(self.client, app.stack, app.domain, service, port, transport=self.http_transport(),
                                 retry_s=retry_s)

    @contextlib.contextmanager
    def volume_helper(self, stack: str, docker_volumes: list[str], read_only: bool) -> Iterator[Container]:
        with helper_container(self.client, stack, docker_volumes, read_only) as helper:
            yield helper

    def heartbeat(self, app: App) -> contextlib.AbstractContextManager[object]:
        return Heartbeat(self.client, app.stack, app.run_id, str(app.run_dir.resolve()), self.host_id)

    def description(self) -> dict[str, Any]:
        return {"kind": self.name, "address": self.address}

    def close(self) -> None:
        pass

    def unconverged(self, app: App) -> list[str]:
        return progress.unconverged(app.stack, self.client)

    def service_labels(self, app: App) -> dict[str, dict[str, str]]:
        return stack.service_labels(self.client, app.stack)

    def deployed_identity(self, app: App) -> AppIdentity:
        return deployed_identity(self.client, app.stack)

    def backup_unsupported(self, app: App) -> str | None:
        return swarm_backup.unsupported_reason(self.service_labels(app))

    def volume_files(self, app: App) -> dict[str, list[BackedUpFile]]:
        return swarm_backup.volume_files(self.client, app)

    def plant_witnesses(self, app: App) -> list[Witness]:
        return swarm_backup.plant_volume_witnesses(self.client, app)

    def file_digests(self, app: App, files: list[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
        return swarm_backup.app_file_digests(self.client, app, files)
