"""Did each service keep its volumes through the upgrade? Pure: two recorded identities in, one
sentence per mount whose data did not follow out.

A volume's name is where its data is: a release that mounts another volume at the same path (a
volume renamed `db` → `pastes`) starts the service on an empty one, while the old volume, and
every witness file in it, stays behind untouched. So the check is per service and path, not per
volume of the stack: the stack still has the old volume, nobody mounts it any more.
"""

from __future__ import annotations

from runner.run.opstate import AppIdentity, MountIdentity

VOLUME = "volume"


def moved_mounts(before: AppIdentity, after: AppIdentity) -> list[str]:
    """`db: /var/lib/pastebin moved from volume db to pastes; …`, for each path where a service
    mounted a named volume before and mounts something else after. A service gone, or a path no
    longer mounted at all, is not judged here (the services' check names the one; the other may
    be a cache a release dropped on purpose)."""
    moved = []
    for name, service in sorted(before.services.items()):
        now = after.services.get(name)
        for path, was in sorted(service.mounts.items()):
            is_now = now.mounts.get(path) if now is not None else None
            if was.type == VOLUME and was.source and is_now is not None and is_now != was:
                moved.append(_moved(name, path, _shown(was, before.stack), _shown(is_now, after.stack)))
    return moved


def _moved(service: str, path: str, was: str, now: str) -> str:
    return (f"{service}: {path} moved from volume {was} to {now}; the data did not follow ({was} still "
            f"holds it): keep mounting volume {was} at {path}, or have the release move the data and say "
            "so in its release note")


def _shown(mount: MountIdentity, stack: str) -> str:
    """A mount as the recipe names it: the stack's own volume by its name in the compose file."""
    if mount.type == VOLUME:
        return mount.source.removeprefix(f"{stack}_") if mount.source else "an anonymous volume"
    if mount.type == "tmpfs":
        return "a tmpfs"
    return f"a {mount.type} mount of {mount.source}" if mount.source else f"a {mount.type} mount"
