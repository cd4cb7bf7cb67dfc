"""Reaching a live app on the swarm: find its containers, exec in them, talk to it over HTTP."""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from typing import TypeVar

import docker
import httpx
from docker.errors import APIError, NotFound
from docker.models.containers import Container

from runner.drivers.swarm.stack import SERVICE_LABEL, stack_services
from runner.errors import ExecError, InfraError
from runner.harness.docker_client import docker_client
from runner.harness.proc import ExecResult, failure_message, show

GATEWAY_NETWORK = "docker_gwbridge"
EXEC_RETRY_S = 30.0
# exit 126 with these: the runtime failed to start the command (seen ~1 in 100 execs at load 14 on 2 cores)
_RUNTIME_DID_NOT_START = ("OCI runtime exec failed", "cannot exec in a stopped state")
_NO_SHELL = ("executable file not found", "no such file or directory")
# Docker can close an exec's output streams before all of it was read (moby#27289: ~1 in 1600
# execs at load 14 here), which looks exactly like a command that printed nothing. The command
# runs under the container's sh, which prints this marker on both streams after it: no marker,
# output lost. Containers without sh get the command bare.
END_MARKER = "\x1e__ccci_exec_end__"
_FRAME = f'"$@"; rc=$?; printf "%s%s\\n" "{END_MARKER}" "$rc"; printf "%s\\n" "{END_MARKER}" >&2; exit "$rc"'

T = TypeVar("T")


def running_container(stack: str, service: str, client: docker.DockerClient | None = None) -> Container | None:
    client = client or docker_client()
    found = client.containers.list(filters={"label": f"{SERVICE_LABEL}={stack}_{service}",
                                            "status": "running"})
    return found[0] if found else None


class NoGatewayEndpoint(InfraError):
    """The container has no docker_gwbridge endpoint (yet: it may still be starting)."""


class ExecNotStarted(InfraError):
    """The runtime failed to start the command (it never ran): safe to try again."""


class OutputLost(ExecError):
    """The command ran, but docker closed its output stream early: its output is unknown."""


def framed(cmd: list[str] | str) -> list[str]:
    """`cmd` (a string is split like docker's SDK does, not run by a shell) under sh, followed
    by the end marker on stdout (with the exit code) and on stderr."""
    argv = shlex.split(cmd) if isinstance(cmd, str) else list(cmd)
    return ["sh", "-c", _FRAME, "sh", *argv]


def unframed(result: ExecResult, what: str) -> ExecResult:
    """The command's own output, without the markers; OutputLost when a marker is missing."""
    out_at, err_at = result.stdout.rfind(END_MARKER), result.stderr.rfind(END_MARKER)
    trailer = result.stdout[out_at + len(END_MARKER):].strip() if out_at >= 0 else ""
    if out_at < 0 or err_at < 0 or trailer != str(result.exit_code):
        lost = [name for name, at in (("stdout", out_at), ("stderr", err_at)) if at < 0] or ["exit code"]
        raise OutputLost(f"{what} exited {result.exit_code} but docker lost its {' and '.join(lost)} "
                         "(the exec stream closed early, moby#27289); its output is unknown", result)
    return ExecResult(result.exit_code, result.stdout[:out_at], result.stderr[:err_at])


def _until_found(attempt: Callable[[], T | None], retry_s: float, what: str,
                 error: type[InfraError] = InfraError, also_retry: tuple[type[Exception], ...] = ()) -> T:
    """Call `attempt` every 0.5 s until it returns a value, while the app's container cycles
    (not running yet, or gone between lookup and use); raise `error` after `retry_s`."""
    deadline = time.monotonic() + retry_s
    problem = "no running container"
    while True:
        try:
            found = attempt()
            if found is not None:
                return found
        # only what a cycling container raises: never InfraError as such, or the orchestrator's
        # Interrupted (SIGTERM arriving mid-exec) would be retried away and the run go on
        except (NotFound, APIError, NoGatewayEndpoint, ExecNotStarted, *also_retry) as err:
            problem = str(err)
        if time.monotonic() >= deadline:
            raise error(f"{what} after {retry_s:.0f}s: {problem}")
        time.sleep(0.5)


def exec_in_app(stack: str, service: str, cmd: list[str] | str, *, check: bool = True,
                retry_s: float = EXEC_RETRY_S, rerun_if_output_lost: bool = False) -> ExecResult:
    """Run `cmd` in the service's running container.

    While the container is cycling the call is retried until `retry_s`; it never returns an
    empty result in place of output: lost output raises OutputLost, or, for a command that only
    reads (`rerun_if_output_lost`), runs it again. With `check`, a non-zero exit raises ExecError
    carrying the result.
    """
    what = f"`{show(cmd)}` in {stack}_{service}"

    def attempt() -> ExecResult | None:
        container = running_container(stack, service)
        if container is None:
            return None
        result = _exec(container, framed(cmd))
        if result.exit_code in (126, 127) and any(m in result.output for m in _NO_SHELL) \
                and END_MARKER not in result.output:
            return _exec(container, cmd)  # no sh in this image: the bare command, unguarded
        return unframed(result, what)

    result = _until_found(attempt, retry_s, f"cannot exec in {stack}_{service}", ExecError,
                          also_retry=(OutputLost,) if rerun_if_output_lost else ())
    if check and result.failed:
        raise ExecError(failure_message(what, result), result)
    return result


def _exec(container: Container, cmd: list[str] | str) -> ExecResult:
    code, (out, err) = container.exec_run(cmd, demux=True)
    result = ExecResult(int(code), _text(out), _text(err))
    if result.exit_code == 126 and any(m in result.output for m in _RUNTIME_DID_NOT_START) \
            and not any(m in result.output for m in _NO_SHELL):
        raise ExecNotStarted(result.output.strip())  # the command never ran: runc loses races under load
    return result


def _text(data: bytes | None) -> str:
    return (data or b"").decode(errors="replace")


def web_service(stack: str, client: docker.DockerClient | None = None) -> tuple[str, int]:
    """The traefik-enabled service of the stack and the port traefik would route to."""
    for service in stack_services(stack, client):
        labels = service.attrs["Spec"].get("Labels", {})
        if labels.get("traefik.enable") != "true":
            continue
        port = next((v for k, v in labels.items()
                     if k.startswith("traefik.http.services.") and k.endswith(".loadbalancer.server.port")), "80")
        return service.name.removeprefix(f"{stack}_"), int(port)
    raise InfraError(f"no service of {stack} has the label traefik.enable=true; nothing serves HTTP")


def gateway_address(container_id: str, client: docker.DockerClient | None = None) -> str:
    """The container's address on docker_gwbridge, which the host can route to.

    Overlay addresses are unreachable from the host and ingress publishing does not work here;
    every swarm task on an overlay network also gets an endpoint on this host bridge.
    """
    client = client or docker_client()
    endpoints = client.api.inspect_network(GATEWAY_NETWORK).get("Containers") or {}
    endpoint = endpoints.get(container_id)
    if not endpoint or not endpoint.get("IPv4Address"):
        raise NoGatewayEndpoint(f"container {container_id[:12]} has no {GATEWAY_NETWORK} endpoint")
    return str(endpoint["IPv4Address"]).split("/")[0]


def app_base_url(stack: str, retry_s: float = EXEC_RETRY_S) -> str:
    """http://<gateway address>:<port> of the app's web container, waiting while it cycles."""
    service, port = web_service(stack)

    def attempt() -> str | None:
        container = running_container(stack, service)
        return f"http://{gateway_address(container.id)}:{port}" if container else None

    return _until_found(attempt, retry_s, f"cannot reach {stack}_{service}")


def http_client(stack: str, domain: str, timeout: float = 10.0) -> httpx.Client:
    """A client that talks to the app as traefik would: its container, with `Host: <domain>`."""
    return httpx.Client(base_url=app_base_url(stack), headers={"Host": domain},
                        timeout=timeout, follow_redirects=False, trust_env=False)
