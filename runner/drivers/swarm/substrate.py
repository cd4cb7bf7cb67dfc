"""The local substrate: Docker engine, single-node swarm, `proxy` network, locally built images.

Every step checks before it acts, so a second call on a ready machine only reads state.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import docker
import yaml
from docker.errors import DockerException, ImageNotFound

from runner.errors import InfraError
from runner.plumbing.paths import FIXTURES_DIR
from runner.targets.local import connect

DOCKERD_LOG = Path("/var/log/cc-ci/dockerd.log")
DOCKERD_DEADLINE_S = 60.0
APT_PACKAGES = ["docker.io", "busybox-static", "restic"]  # restic: the swarm driver's backups
BUSYBOX = Path("/bin/busybox")
PROXY_NETWORK = "proxy"
BUILD_HASH_LABEL = "cc-ci.build-hash"
IMAGES_FILE = FIXTURES_DIR / "images" / "images.yml"
# Present (in every network namespace) once the kernel has IPVS, built in or as the loaded module.
IPVS_PROC = Path("/proc/net/ip_vs")

Say = Callable[[str], None]


@dataclass(frozen=True)
class ImageSpec:
    tag: str
    context: Path
    buildargs: dict[str, str]


@dataclass(frozen=True)
class ServiceVips:
    """Whether swarm's service virtual IPs can answer on this host, and how we know."""

    work: bool
    why: str


def ensure_substrate(say: Say) -> ServiceVips:
    _ensure_packages(say)
    client = _ensure_engine(say)
    _ensure_swarm(client, say)
    _ensure_proxy_network(client, say)
    for spec in load_image_specs():
        _ensure_image(client, spec, say)
    vips = service_vips()
    if not vips.work:
        say(f"{vips.why}: swarm's service virtual IPs do not answer here (a service cannot reach another by "
            "its name, and ingress-published ports do not work); runs deploy every service with "
            "endpoint_mode dnsrr instead (CCCI_DNSRR=auto)")
    return vips


def service_vips(proc: Path = IPVS_PROC, load_module: Callable[[], str | None] | None = None) -> ServiceVips:
    """A service's VIP is an IPVS virtual server in the kernel: without IPVS the name resolves to
    an address that nothing answers ("No route to host"). Reads the local kernel, so it speaks
    for the engine only when that runs on this host (a remote DOCKER_HOST: assumed to work)."""
    if _remote_engine():
        return ServiceVips(True, f"the engine is remote ({os.environ['DOCKER_HOST']}): its kernel is not checked")
    if proc.exists():
        return ServiceVips(True, f"the kernel has IPVS ({proc})")
    # dockerd loads the module itself when it can; do the same so that a loadable one counts
    problem = (load_module or _modprobe_ip_vs)()
    if problem is None and proc.exists():
        return ServiceVips(True, "the kernel has IPVS (loaded the ip_vs module)")
    return ServiceVips(False, f"this host's kernel has no IPVS (no {proc}; "
                              f"{problem or '`modprobe ip_vs` loaded nothing'})")


def _remote_engine() -> bool:
    host = os.environ.get("DOCKER_HOST", "").strip()
    return bool(host) and not host.startswith("unix://")


def _modprobe_ip_vs() -> str | None:
    """None when `modprobe ip_vs` succeeded, else why it did not."""
    if shutil.which("modprobe") is None:
        return "no modprobe to load the ip_vs module"
    try:
        done = subprocess.run(["modprobe", "ip_vs"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"`modprobe ip_vs` failed: {err}"
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        return f"`modprobe ip_vs`: {last[0]}"
    return None


def _ensure_packages(say: Say) -> None:
    missing = []
    if shutil.which("dockerd") is None:
        missing.append("docker.io")
    if not BUSYBOX.exists():
        missing.append("busybox-static")
    if shutil.which("restic") is None:
        missing.append("restic")
    if not missing:
        return
    if os.geteuid() != 0:
        raise InfraError(f"{', '.join(missing)} missing and not root; install them or rerun as root")
    say(f"installing {' '.join(missing)} with apt-get (first run only)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"],
                ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise InfraError(f"`{' '.join(cmd)}` failed ({done.returncode}): {' | '.join(tail)}")


def _ping() -> docker.DockerClient | None:
    try:
        return connect(timeout=10)
    except DockerException:
        return None


def _ensure_engine(say: Say) -> docker.DockerClient:
    client = _ping()
    if client is not None:
        return client
    # No systemd here: dockerd runs as a detached background process logging to a file.
    say(f"starting dockerd (log: {DOCKERD_LOG})")
    DOCKERD_LOG.parent.mkdir(parents=True, exist_ok=True)
    with DOCKERD_LOG.open("ab") as log:
        proc = subprocess.Popen(["dockerd"], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + DOCKERD_DEADLINE_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise InfraError(f"dockerd exited with {proc.returncode}: {_log_tail()}")
        client = _ping()
        if client is not None:
            return client
        time.sleep(0.25)
    raise InfraError(f"dockerd did not answer within {DOCKERD_DEADLINE_S:.0f}s: {_log_tail()}")


def _log_tail() -> str:
    lines = DOCKERD_LOG.read_text(errors="replace").strip().splitlines()[-3:]
    return " | ".join(lines) + f" (see {DOCKERD_LOG})"


def _ensure_swarm(client: docker.DockerClient, say: Say) -> None:
    if client.info()["Swarm"]["LocalNodeState"] == "active":
        return
    say("initialising a single-node swarm")
    try:
        client.swarm.init()
    except DockerException:
        # several interfaces make init ambiguous; loopback is right for a single node
        client.swarm.init(advertise_addr="127.0.0.1", listen_addr="127.0.0.1:2377")


def _ensure_proxy_network(client: docker.DockerClient, say: Say) -> None:
    if client.networks.list(names=[PROXY_NETWORK], filters={"driver": "overlay"}):
        return
    say(f"creating the attachable overlay network `{PROXY_NETWORK}`")
    client.networks.create(PROXY_NETWORK, driver="overlay", attachable=True, scope="swarm")


def load_image_specs() -> list[ImageSpec]:
    raw = yaml.safe_load(IMAGES_FILE.read_text())
    return [
        ImageSpec(tag=item["tag"], context=IMAGES_FILE.parent / item["context"],
                  buildargs={k: str(v) for k, v in (item.get("args") or {}).items()})
        for item in raw["images"]
    ]


def build_hash(spec: ImageSpec) -> str:
    """Content hash of the build context and args: an image is rebuilt only when it changed."""
    digest = hashlib.sha256()
    for path in sorted(p for p in spec.context.rglob("*") if p.is_file()):
        digest.update(path.relative_to(spec.context).as_posix().encode())
        digest.update(path.read_bytes())
    digest.update(repr(sorted(spec.buildargs.items())).encode())
    digest.update(hashlib.sha256(BUSYBOX.read_bytes()).digest())
    return digest.hexdigest()[:16]


def _ensure_image(client: docker.DockerClient, spec: ImageSpec, say: Say) -> None:
    wanted = build_hash(spec)
    try:
        if client.images.get(spec.tag).labels.get(BUILD_HASH_LABEL) == wanted:
            return
    except ImageNotFound:
        pass
    say(f"building image {spec.tag} locally")
    with tempfile.TemporaryDirectory(prefix="ccci-build-") as tmp:
        shutil.copytree(spec.context, tmp, dirs_exist_ok=True)
        shutil.copy2(BUSYBOX, Path(tmp) / "busybox")  # images are busybox-static, nothing pulled
        try:
            client.images.build(path=tmp, tag=spec.tag, buildargs=spec.buildargs,
                                labels={BUILD_HASH_LABEL: wanted}, rm=True, forcerm=True)
        except DockerException as err:
            raise InfraError(f"building {spec.tag} failed: {err}") from err
