"""A stand-in docker client: an in-memory engine whose calls can be scripted to race.

Only the low-level calls the swarm driver's teardown and convergence make are implemented. The
high-level `client.containers.list` raises NotFound, as the real one does when swarm removes a
container between listing and inspecting it: code that uses it fails here.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from docker.errors import APIError, NotFound

STACK_LABEL = "com.docker.stack.namespace"
_ids = itertools.count(1)


def in_use(what: str) -> APIError:
    response = _Response(409)
    return APIError(f"409 Client Error: {what} is in use", response=response, explanation=f"{what} is in use")  # type: ignore[arg-type]


def server_error(text: str) -> APIError:
    return APIError(f"500 Server Error: {text}", response=_Response(500), explanation=text)  # type: ignore[arg-type]


@dataclass
class _Response:
    status_code: int
    reason: str = ""
    url: str = "http+docker://localhost/v1.41/fake"


@dataclass
class Obj:
    kind: str
    name: str
    labels: dict[str, str]
    id: str = field(default_factory=lambda: f"id{next(_ids):04d}")
    attrs: dict[str, Any] = field(default_factory=dict)


class FakeAPI:
    def __init__(self) -> None:
        self.objects: list[Obj] = []
        self.tasks_of: dict[str, list[dict[str, Any]]] = {}  # service name -> its tasks
        self.calls: list[str] = []
        # scripted races: (call name, id or "") -> exceptions raised by the next such calls, in turn
        self.script: dict[tuple[str, str], list[Exception]] = {}
        self.after: dict[str, Callable[[FakeAPI], None]] = {}  # call name -> a side effect (swarm acting)
        self.stubborn: set[str] = set()  # ids whose removal "succeeds" but that stay

    # -- engine helpers for the tests -------------------------------------------------------------

    def add(self, kind: str, name: str, stack: str | None = None, **labels: str) -> Obj:
        if stack:
            labels = {STACK_LABEL: stack, **labels}
        obj = Obj(kind, name, dict(labels))
        self.objects.append(obj)
        return obj

    def names(self) -> list[str]:
        return sorted(f"{o.kind} {o.name}" for o in self.objects)

    def _scripted(self, call: str, key: str = "") -> None:
        self.calls.append(call)
        for k in ((call, key), (call, "")):
            pending = self.script.get(k)
            if pending:
                raise pending.pop(0)

    def _effect(self, call: str) -> None:
        if call in self.after:
            self.after.pop(call)(self)

    def _list(self, kind: str, filters: dict[str, Any] | None) -> list[Obj]:
        self._scripted(f"list_{kind}")
        found = [o for o in self.objects if o.kind == kind and _matches(o, filters or {})]
        self._effect(f"list_{kind}")
        return found

    def _remove(self, kind: str, key: str) -> None:
        self._scripted(f"remove_{kind}", key)
        obj = next((o for o in self.objects if o.kind == kind and key in (o.id, o.name)), None)
        if obj is None:
            raise NotFound(f"No such {kind}: {key}")
        if kind in ("volume", "network") and any(o.kind == "container" for o in self.objects
                                                  if o.labels.get(STACK_LABEL) == obj.labels.get(STACK_LABEL)):
            raise in_use(f"{kind} {obj.name}")
        if kind in ("secret", "config") and any(o.kind == "service" for o in self.objects
                                                 if o.labels.get(STACK_LABEL) == obj.labels.get("cc-ci.stack", obj.labels.get(STACK_LABEL))):
            raise in_use(f"{kind} {obj.name}")
        if obj.id not in self.stubborn:
            self.objects.remove(obj)
        self._effect(f"remove_{kind}")

    # -- the docker API subset --------------------------------------------------------------------

    def services(self, filters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return [{"ID": o.id, "Spec": {"Name": o.name, "Labels": o.labels, "Mode": {"Replicated": {"Replicas": 1}}},
                 **o.attrs} for o in self._list("service", filters)]

    def containers(self, all: bool = False, filters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return [{"Id": o.id, "Names": [f"/{o.name}"], "Labels": o.labels} for o in self._list("container", filters)]

    def volumes(self, filters: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"Volumes": [{"Name": o.name, "Labels": o.labels} for o in self._list("volume", filters)] or None}

    def networks(self, filters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return [{"Id": o.id, "Name": o.name, "Labels": o.labels} for o in self._list("network", filters)]

    def secrets(self, filters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return [{"ID": o.id, "Spec": {"Name": o.name, "Labels": o.labels}} for o in self._list("secret", filters)]

    def configs(self, filters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return [{"ID": o.id, "Spec": {"Name": o.name, "Labels": o.labels}} for o in self._list("config", filters)]

    def tasks(self, filters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        self._scripted("tasks")
        wanted = (filters or {}).get("service")
        wanted = [wanted] if isinstance(wanted, str) else wanted
        services = [o for o in self.objects if o.kind == "service" and (wanted is None or o.id in wanted or o.name in wanted)]
        return [{**t, "ServiceID": s.id} for s in services for t in self.tasks_of.get(s.name, [])]

    def nodes(self) -> list[dict[str, Any]]:
        return [{"ID": "node1"}]

    def inspect_container(self, cid: str) -> dict[str, Any]:
        self._scripted("inspect_container", cid)
        raise NotFound(f"No such container: {cid}")

    def service_logs(self, service: str, **_kwargs: Any) -> Iterator[bytes]:
        self._scripted("service_logs", service)
        return iter([b"httpd: started\n"])

    def remove_service(self, key: str) -> None:
        self._remove("service", key)

    def remove_container(self, key: str, force: bool = False) -> None:
        assert force, "teardown force-removes containers"
        self._remove("container", key)

    def remove_volume(self, key: str) -> None:
        self._remove("volume", key)

    def remove_network(self, key: str) -> None:
        self._remove("network", key)

    def remove_secret(self, key: str) -> None:
        self._remove("secret", key)

    def remove_config(self, key: str) -> None:
        self._remove("config", key)


class _InspectingContainers:
    def list(self, **_kwargs: Any) -> list[Any]:
        raise NotFound("No such container: 0a1b2c (removed by swarm between listing and inspecting)")


class _NoEvents:
    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(())

    def close(self) -> None:
        pass


class _Services:
    def __init__(self, api: FakeAPI) -> None:
        self.api = api

    def list(self, filters: dict[str, Any] | None = None) -> list[Any]:
        return [_ServiceModel(s) for s in self.api.services(filters=filters)]


@dataclass
class _ServiceModel:
    attrs: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.attrs["ID"])

    @property
    def name(self) -> str:
        return str(self.attrs["Spec"]["Name"])


class FakeClient:
    def __init__(self) -> None:
        self.api = FakeAPI()
        self.containers = _InspectingContainers()
        self.services = _Services(self.api)

    def events(self, **_kwargs: Any) -> _NoEvents:
        return _NoEvents()


def _matches(obj: Obj, filters: dict[str, Any]) -> bool:
    label = filters.get("label")
    if label:
        key, _, value = str(label).partition("=")
        if obj.labels.get(key) != value:
            return False
    name = filters.get("name")
    return not (name and str(name) not in obj.name)  # the engine's name filter is a substring match
