"""Reaching a live app on the swarm through a target's docker client: find its containers, exec in
them (with the durable output capture), and find where to send HTTP to it."""

from __future__ import annotations

import functools
import io
import secrets
import shlex
import ssl
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import certifi
import docker
import requests
from docker.errors import APIError, DockerException, NotFound
from docker.models.containers import Container

from runner.errors import ExecError, InfraError
from runner.plumbing import timing
from runner.plumbing.proc import ExecResult, failure_message, show
from runner.recipe.traefik import serving_targets, web_services
from runner.swarm.stack import SERVICE_LABEL, stack_services

if TYPE_CHECKING:
    import httpx  # loaded while the first op waits on docker (orchestrator), not at start-up

GATEWAY_NETWORK = "docker_gwbridge"
EXEC_RETRY_S = 30.0
# exit 126 with these: the runtime failed to start the command (seen ~1 in 100 execs at load 14 on 2 cores)
_RUNTIME_DID_NOT_START = ("OCI runtime exec failed", "cannot exec in a stopped state")
_NO_SHELL = ("executable file not found", "no such file or directory")
_SH_ITSELF = ('"sh"', "`sh`")  # runc: exec: "sh": …; crun: executable file `sh` not found
# Docker can close an exec's output streams before all of it was read (moby#27289: ~1 in 1600
# execs at load 14 here), which looks exactly like a command that printed nothing. So the
# command runs under the container's sh with its stdout, stderr and exit code going to files in
# a fresh directory; sh then replays each file on its stream followed by an end marker. Both
# markers there: the streams are the whole output. A marker missing: the files are read back
# through the archive API, which does not use the exec stream. Containers without sh get the
# command bare; containers with nowhere to put the files get the markers alone.
END_MARKER = "\x1e__ccci_exec_end__"
# In the container's writable layer: the archive API reads it, but not tmpfs mounts (/dev/shm,
# /run), nor a read-only root. Dirs on a mount are skipped: the files must never land in a volume.
CAPTURE_BASES = ("/tmp", "/var/tmp")
CAPTURE_PREFIX = ".ccci-exec-"
_MARKERS = (f'printf "%s%s\\n" "{END_MARKER}" "$rc"', f'printf "%s\\n" "{END_MARKER}" >&2')
_FRAME = f'"$@"; rc=$?; {_MARKERS[0]}; {_MARKERS[1]}; exit "$rc"'
_RC_POLL_S = 0.5

T = TypeVar("T")


def running_container(client: docker.DockerClient, stack: str, service: str) -> Container | None:
    found = client.containers.list(filters={"label": f"{SERVICE_LABEL}={stack}_{service}",
                                            "status": "running"})
    return found[0] if found else None


class NoGatewayEndpoint(InfraError):
    """The container has no docker_gwbridge endpoint (yet: it may still be starting)."""


class ExecNotStarted(InfraError):
    """The runtime failed to start the command (it never ran): safe to try again."""


class OutputLost(ExecError):
    """The command ran, but docker closed its output stream early and its output could not be
    read back any other way: its output is unknown."""


@dataclass(frozen=True)
class RawExec:
    """What the engine answered: the streams, and the exit code (None when the stream closed
    while the command was still running)."""

    exit_code: int | None
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def framed(cmd: list[str] | str) -> list[str]:
    """`cmd` under sh, followed by the end marker on stdout (with the exit code) and on stderr:
    the framing for a container with nowhere to write the capture files."""
    return ["sh", "-c", _FRAME, "sh", *_argv(cmd)]


def captured(cmd: list[str] | str, name: str, bases: tuple[str, ...], stale: tuple[str, ...] = ()) -> list[str]:
    """`cmd` under sh with its stdout, stderr and exit code written to `<base>/<name>/{out,err,rc}`
    (the first base where the dir can be made), then replayed on the streams, each followed by
    the end marker. Nowhere to write: the plain frame. `stale`: earlier capture dirs to remove."""
    quoted = " ".join(shlex.quote(p) for p in stale)
    clean = f"rm -rf {quoted} 2>/dev/null; " if stale else ""
    if not bases:
        return ["sh", "-c", clean + _FRAME, "sh", *_argv(cmd)]
    script = (
        f"{clean}d=; for b in {' '.join(shlex.quote(b) for b in bases)}; do "
        f'mkdir -m 700 "$b/{name}" 2>/dev/null && d="$b/{name}" && break; done; '
        f'if [ -z "$d" ]; then {_FRAME}; fi; '
        '"$@" >"$d/out" 2>"$d/err"; rc=$?; printf "%s\\n" "$rc" >"$d/rc"; '
        # a marker only after a whole replay: cat missing or failing reads as lost, never as ''
        f'cat "$d/out" && {_MARKERS[0]}; cat "$d/err" >&2 && {_MARKERS[1]}; exit "$rc"'
    )
    return ["sh", "-c", script, "sh", *_argv(cmd)]


def _argv(cmd: list[str] | str) -> list[str]:
    """A string is split like docker's SDK does (shlex), not run by a shell."""
    return shlex.split(cmd) if isinstance(cmd, str) else list(cmd)


def unframed(raw: RawExec | ExecResult, what: str) -> ExecResult:
    """The command's own output, without the markers; OutputLost when a marker is missing."""
    out_at, err_at = raw.stdout.rfind(END_MARKER), raw.stderr.rfind(END_MARKER)
    trailer = raw.stdout[out_at + len(END_MARKER):].strip() if out_at >= 0 else ""
    if raw.exit_code is None or out_at < 0 or err_at < 0 or trailer != str(raw.exit_code):
        lost = [name for name, at in (("stdout", out_at), ("stderr", err_at)) if at < 0] or ["exit code"]
        raise OutputLost(f"{what} {_exited(raw)} but docker lost its {' and '.join(lost)} "
                         "(the exec stream closed early, moby#27289); its output is unknown", _partial(raw))
    return ExecResult(raw.exit_code, raw.stdout[:out_at], raw.stderr[:err_at])


def _exited(raw: RawExec | ExecResult) -> str:
    return "was still running" if raw.exit_code is None else f"exited {raw.exit_code}"


def _partial(raw: RawExec | ExecResult) -> ExecResult:
    """What the streams did carry, for the error (-1: the exit code is unknown)."""
    return ExecResult(-1 if raw.exit_code is None else raw.exit_code, raw.stdout, raw.stderr)


@dataclass(frozen=True)
class Capture:
    """Where one exec's output goes in its container: `<base>/<name>` for the first base that
    takes it. `stale`: the dirs of earlier execs in the same container, removed by this one."""

    name: str
    bases: tuple[str, ...]
    stale: tuple[str, ...] = ()

    @classmethod
    def fresh(cls, container: Container) -> Capture:
        bases = capture_bases(container.attrs)
        stale = tuple(f"{b}/{n}" for n in _left_in.get(container.id, ()) for b in bases)
        return cls(f"{CAPTURE_PREFIX}{secrets.token_hex(8)}", bases, stale)

    def argv(self, cmd: list[str] | str) -> list[str]:
        return captured(cmd, self.name, self.bases, self.stale)

    def read_back(self, container: Container, raw: RawExec, lost: OutputLost) -> ExecResult:
        """The result from the capture files; `lost` again when there are none to read."""
        for base in self.bases:
            files = _archived_files(container, f"{base}/{self.name}")
            if files is None:
                continue
            if "rc" not in files and raw.exit_code is None:
                files = _when_finished(container, f"{base}/{self.name}", files)
            code = _exit_code(files.get("rc"), raw.exit_code)
            if code is None or "out" not in files or "err" not in files:
                break
            return ExecResult(code, _text(files["out"]), _text(files["err"]))
        where = " or ".join(f"{b}/{self.name}" for b in self.bases) or "nowhere (no writable dir)"
        raise OutputLost(f"{lost} and could not be read back from {where}", lost.result) from None


# capture dirs each container still holds, by container id: the next exec there removes them
# (the last one goes with the container). Not locked: a race only leaves a dir behind.
_left_in: dict[str, tuple[str, ...]] = {}


def capture_bases(attrs: dict[str, Any]) -> tuple[str, ...]:
    """The CAPTURE_BASES the archive API can read back from this container: none on a read-only
    root; none at or under a mount (a volume, a bind, a tmpfs)."""
    host = attrs.get("HostConfig") or {}
    if host.get("ReadonlyRootfs"):
        return ()
    mounts = [str(m.get("Destination", "")).rstrip("/") for m in attrs.get("Mounts") or []]
    mounts += [str(t).rstrip("/") for t in host.get("Tmpfs") or {}]
    return tuple(b for b in CAPTURE_BASES if not any(m and (b == m or b.startswith(m + "/")) for m in mounts))


def _archived_files(container: Container, path: str) -> dict[str, bytes] | None:
    """The regular files directly in `path`, by name, read through the archive API; None when
    it is not there or cannot be read."""
    try:
        chunks, _ = container.get_archive(path)
        data = b"".join(chunks)
    except (DockerException, OSError):  # NotFound: not this base; anything else: unreadable
        return None
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            for member in tar:
                handle = tar.extractfile(member) if member.isreg() else None
                if handle is not None and member.name.count("/") == 1:
                    files[member.name.rpartition("/")[2]] = handle.read()
    except tarfile.TarError:  # a cut archive: as unreadable as none
        return None
    return files


def _when_finished(container: Container, path: str, files: dict[str, bytes]) -> dict[str, bytes]:
    """The stream closed while the command still ran: wait for its exit code file while the
    container runs (a command that never ends hangs here, as it would in `docker exec`)."""
    while "rc" not in files:
        time.sleep(_RC_POLL_S)
        try:
            container.reload()
        except DockerException:
            return files
        if container.status != "running":
            return _archived_files(container, path) or files
        files = _archived_files(container, path) or files
    return files


def _exit_code(rc_file: bytes | None, engine_code: int | None) -> int | None:
    """The command's exit code from its rc file, else the one the engine reported (the wrapper
    itself ended before writing it: killed, or a full disk)."""
    try:
        return int((rc_file or b"").decode().strip())
    except ValueError:
        return engine_code


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


def exec_in_app(client: docker.DockerClient, stack: str, service: str, cmd: list[str] | str, *,
                check: bool = True, retry_s: float = EXEC_RETRY_S, rerun_if_output_lost: bool = False) -> ExecResult:
    """Run `cmd` in the service's running container.

    While the container is cycling the call is retried until `retry_s`. It never returns an
    empty result in place of output: output the exec stream lost is read back from the capture
    files; when that fails too it raises OutputLost, or, for a command that only reads
    (`rerun_if_output_lost`), runs it again. With `check`, a non-zero exit raises ExecError
    carrying the result.
    """
    what = f"`{show(cmd)}` in {stack}_{service}"

    def attempt() -> ExecResult | None:
        container = running_container(client, stack, service)
        return None if container is None else exec_captured(container, cmd, what)

    result = _until_found(attempt, retry_s, f"cannot exec in {stack}_{service}", ExecError,
                          also_retry=(OutputLost,) if rerun_if_output_lost else ())
    if check and result.failed:
        raise ExecError(failure_message(what, result), result)
    return result


def exec_captured(container: Container, cmd: list[str] | str, what: str) -> ExecResult:
    """One run of `cmd` in the container, its output captured (see END_MARKER). Raises
    ExecNotStarted (it never ran), NotFound/APIError from the engine before it ran, OutputLost."""
    capture = Capture.fresh(container)
    raw = _exec(container, capture.argv(cmd))
    _left_in[container.id] = (capture.name,)  # its stale dirs are gone, its own may be there
    if _no_sh(raw):
        return _bare(_exec(container, cmd), what)  # no sh in this image: the bare command, unguarded
    try:
        return unframed(raw, what)
    except OutputLost as lost:
        return capture.read_back(container, raw, lost)


def _no_sh(raw: RawExec) -> bool:
    """The runtime could not start sh itself: not a command that ran and exited 127 saying
    "No such file or directory" (run bare, that one would run twice)."""
    return raw.exit_code in (126, 127) and END_MARKER not in raw.output \
        and any(m in raw.output for m in _NO_SHELL) and any(m in raw.output for m in _SH_ITSELF)


def _bare(raw: RawExec, what: str) -> ExecResult:
    if raw.exit_code is None:
        raise OutputLost(f"{what} was still running when docker closed its output stream (moby#27289); "
                         "its output and exit code are unknown", _partial(raw))
    return ExecResult(raw.exit_code, raw.stdout, raw.stderr)


def _exec(container: Container, cmd: list[str] | str) -> RawExec:
    with timing.waiting("docker"):  # the command runs in the container, its output streams back
        return _exec_once(container, cmd)


def _exec_once(container: Container, cmd: list[str] | str) -> RawExec:
    # container.exec_run, with the exec's id kept: a start whose connection broke (a cut SSH link)
    # is asked about, never sent again blindly
    api = container.client.api
    exec_id = api.exec_create(container.id, cmd, stdout=True, stderr=True)["Id"]
    try:
        out, err = api.exec_start(exec_id, demux=True)
    except requests.exceptions.ConnectionError as lost:
        if not _exec_started(api, exec_id):
            raise ExecNotStarted(f"the connection broke before it started: {lost}") from None
        out, err = None, None  # it ran: its output is lost, the capture files have it
    code = api.exec_inspect(exec_id)["ExitCode"]
    raw = RawExec(None if code is None else int(code), _text(out), _text(err))
    if raw.exit_code == 126 and any(m in raw.output for m in _RUNTIME_DID_NOT_START) \
            and not any(m in raw.output for m in _NO_SHELL):
        raise ExecNotStarted(raw.output.strip())  # the command never ran: runc loses races under load
    return raw


def _exec_started(api: Any, exec_id: str) -> bool:
    state = api.exec_inspect(exec_id)
    return bool(state.get("Running") or state.get("Pid") or state.get("ExitCode") is not None)


def _text(data: bytes | None) -> str:
    return (data or b"").decode(errors="replace")


def web_service(client: docker.DockerClient, stack: str, domain: str) -> tuple[str, int]:
    """The web-facing service that serves the app's domain, and the port traefik routes it to
    (the first place traefik would send a request for the domain)."""
    labels = {s.name.removeprefix(f"{stack}_"): dict(s.attrs["Spec"].get("Labels") or {})
              for s in stack_services(stack, client)}
    targets = serving_targets(web_services(labels), domain)
    target = next((t for t in targets if t.host == domain), targets[0] if targets else None)
    if target is None:
        raise InfraError(f"no router of {stack} forwards to a port of the app (traefik.enable=true and "
                         "traefik.http.services.<name>.loadbalancer.server.port); nothing serves HTTP")
    return target.service, target.port


def gateway_address(client: docker.DockerClient, container_id: str) -> str:
    """The container's address on docker_gwbridge of the node it runs on.

    Overlay addresses are unreachable from the node and ingress publishing does not work here;
    every swarm task on an overlay network also gets an endpoint on this node bridge, which the
    node itself (the harness's host, or the sshd of a remote node) can route to.
    """
    endpoints = client.api.inspect_network(GATEWAY_NETWORK).get("Containers") or {}
    endpoint = endpoints.get(container_id)
    if not endpoint or not endpoint.get("IPv4Address"):
        raise NoGatewayEndpoint(f"container {container_id[:12]} has no {GATEWAY_NETWORK} endpoint")
    return str(endpoint["IPv4Address"]).split("/")[0]


def app_base_url(client: docker.DockerClient, stack: str, service: str, port: int,
                 retry_s: float = EXEC_RETRY_S) -> str:
    """http://<gateway address>:<port> of the service's running container, waiting while it cycles."""

    def attempt() -> str | None:
        container = running_container(client, stack, service)
        return f"http://{gateway_address(client, container.id)}:{port}" if container else None

    return _until_found(attempt, retry_s, f"cannot reach {stack}_{service}")


def http_client(client: docker.DockerClient, stack: str, domain: str, service: str | None = None,
                port: int | None = None, transport: httpx.BaseTransport | None = None,
                timeout: float = 10.0, retry_s: float = EXEC_RETRY_S) -> httpx.Client:
    """A client that talks to the app as traefik would: a container of `service` on `port` (by
    default where traefik sends the app's domain), with `Host: <domain>`. `transport`: how the
    target carries the connection to the container's address (None: straight from this host).
    `retry_s`: how long to wait for a running container of the service."""
    import httpx

    if service is None or port is None:
        service, port = web_service(client, stack, domain)
    return httpx.Client(base_url=app_base_url(client, stack, service, port, retry_s), headers={"Host": domain},
                        timeout=timeout, follow_redirects=False, trust_env=False, transport=transport,
                        verify=tls_context())


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's default verification (certifi's bundle), built once a process: httpx would read the
    bundle again for every client (~40 ms each, two a tier), though the app is reached over plain
    HTTP. The warm tier process builds it before its job arrives."""
    return ssl.create_default_context(cafile=certifi.where())
