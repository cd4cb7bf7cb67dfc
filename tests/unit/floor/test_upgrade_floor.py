"""The upgrade floor (`tests/_generic/test_upgrade.py`) called with stubbed op state, labels and
HTTP answers: the upgrade stayed in place as docker sees it (same stack, volumes, services
updated rather than recreated), runs the PR head with the version label the head declares (a
pinned base may share it), and still serves its domain."""

from __future__ import annotations

import pytest

from runner.ops.upgrade import UpgradePlan, UpgradeRecord
from runner.run.opstate import (
    AppIdentity,
    MountIdentity,
    OpRecord,
    OpState,
    ServiceIdentity,
    VolumeIdentity,
)
from tests.unit.floor.support import load_floor
from tests.unit.floor.web_stubs import REFUSED, STACK, StubTarget, app, deployment, fixtures, web

floor = load_floor("upgrade")
HEAD = "f5984612" + "0" * 32
VERSION = f"coop-cloud.{STACK}.version"
CREATED = "2026-12-01T15:30:48Z"


def _identity(services: dict[str, tuple[str, int]] | None = None,
              volumes: dict[str, str] | None = None, stack: str = STACK,
              mounts: dict[str, dict[str, MountIdentity]] | None = None) -> AppIdentity:
    services = {"app": ("svc-app", 10), "db": ("svc-db", 11)} if services is None else services
    volumes = {f"{STACK}_content": CREATED} if volumes is None else volumes
    mounts = mounts or {}
    return AppIdentity(stack=stack,
                       services={n: ServiceIdentity(id=i, version=v, updated_at=str(v), mounts=mounts.get(n, {}))
                                 for n, (i, v) in services.items()},
                       volumes={n: VolumeIdentity(name=n, created_at=c) for n, c in volumes.items()})


def _state(after: AppIdentity | None = None, base_label: str = "1.0.0+1.0", declared: str | None = "1.1.0+1.1",
           declared_services: list[str] | None = None, before: AppIdentity | None = None) -> OpState:
    installed = deployment({VERSION: base_label})
    upgraded = deployment({VERSION: declared or ""}).model_copy(update={"chaos": True, "commit": HEAD})
    after = after if after is not None else _identity({"app": ("svc-app", 14), "db": ("svc-db", 15)})
    return OpState(run_id="r1", recipe="recipe", head_commit=HEAD,
                   plans={"upgrade": UpgradePlan(base="1.0.0+1.0")}, ops={
        "install": OpRecord(op="install", deployment=installed, deploy_count=1, identity=before or _identity()),
        "upgrade": UpgradeRecord(op="upgrade", deployment=upgraded, deploy_count=1, identity=after,
                            declared_version=declared,
                            declared_services=["app", "db"] if declared_services is None else declared_services),
    })


# -- in place, from docker's side --------------------------------------------------------------


def test_an_upgrade_in_place_passes_every_identity_check() -> None:
    state = _state()
    floor.test_the_upgrade_kept_the_stack_and_its_services(app(), state)
    floor.test_the_upgrade_kept_every_volume(state)
    floor.test_the_upgrade_updated_each_service_in_place(state)


def test_a_volume_whose_docker_created_at_moved_is_still_the_same_volume() -> None:
    # seen on a real run: the local driver's CreatedAt is `_data`'s ctime, moved by a file the
    # harness (or the app) added at the volume's root between the two readings
    after = _identity({"app": ("svc-app", 14), "db": ("svc-db", 15)}, {f"{STACK}_content": "2026-12-01T15:30:49Z"})
    floor.test_the_upgrade_kept_every_volume(_state(after))


def test_a_volume_gone_fails() -> None:
    after = _identity({"app": ("svc-app", 14), "db": ("svc-db", 15)}, {})
    with pytest.raises(AssertionError, match=f"gone after the upgrade: {STACK}_content"):
        floor.test_the_upgrade_kept_every_volume(_state(after))


def test_a_new_volume_of_the_head_is_fine() -> None:
    after = _identity({"app": ("svc-app", 14), "db": ("svc-db", 15)},
                      {f"{STACK}_content": CREATED, f"{STACK}_uploads": "2026-12-01T15:31:30Z"})
    floor.test_the_upgrade_kept_every_volume(_state(after))


# -- each service's mounts: a renamed volume leaves the data behind ------------------------------

DB_PATH = "/var/lib/pastebin"


def _volume(name: str) -> MountIdentity:
    return MountIdentity(type="volume", source=f"{STACK}_{name}")


def _mounted(db: MountIdentity | None, *more: str) -> AppIdentity:
    """The app with `db` mounting `db` at DB_PATH (nothing there when None), and the stack's volumes."""
    mounts = {"db": {DB_PATH: db} if db else {}, "app": {"/srv/www": _volume("content")}}
    return _identity({"app": ("svc-app", 14), "db": ("svc-db", 15)},
                     {f"{STACK}_{v}": CREATED for v in ("content", "db", *more)}, mounts=mounts)


def _kept_every_volume_fails(after: AppIdentity) -> str:
    with pytest.raises(AssertionError) as failed:
        floor.test_the_upgrade_kept_every_volume(_state(after, before=_mounted(_volume("db"))))
    return str(failed.value)


def test_a_release_that_renames_a_volume_fails_naming_the_mount_and_both_volumes() -> None:
    # db -> pastes: `docker stack deploy` makes the new volume empty and leaves the old one, so
    # every volume of the install is still there by name
    assert _kept_every_volume_fails(_mounted(_volume("pastes"), "pastes")) == (
        f"db: {DB_PATH} moved from volume db to pastes; the data did not follow (db still holds it): keep "
        f"mounting volume db at {DB_PATH}, or have the release move the data and say so in its release note")


def test_a_volume_mount_that_became_a_tmpfs_or_a_bind_fails() -> None:
    assert _kept_every_volume_fails(_mounted(MountIdentity(type="tmpfs"))).startswith(
        f"db: {DB_PATH} moved from volume db to a tmpfs; the data did not follow")
    assert _kept_every_volume_fails(_mounted(MountIdentity(type="bind", source="/srv/pastes"))).startswith(
        f"db: {DB_PATH} moved from volume db to a bind mount of /srv/pastes; the data did not follow")


def test_a_volume_gone_and_a_mount_moved_are_both_named() -> None:
    after = _mounted(_volume("pastes"), "pastes")
    after.volumes.pop(f"{STACK}_content")
    message = _kept_every_volume_fails(after)
    assert message.startswith(f"volume(s) of the install gone after the upgrade: {STACK}_content; db: {DB_PATH} "
                              "moved from volume db to pastes"), message


def test_the_same_volume_a_new_mount_or_a_dropped_path_pass() -> None:
    before = _mounted(_volume("db"))
    floor.test_the_upgrade_kept_every_volume(_state(_mounted(_volume("db")), before=before))
    grown = _mounted(_volume("db"), "uploads")
    grown.services["app"].mounts["/srv/uploads"] = _volume("uploads")  # the head adds a volume
    floor.test_the_upgrade_kept_every_volume(_state(grown, before=before))
    # a path the head no longer mounts (a cache it dropped) leaves the data where it was
    floor.test_the_upgrade_kept_every_volume(_state(_mounted(None), before=before))


def test_an_op_state_recorded_before_mounts_were_compares_volumes_only() -> None:
    floor.test_the_upgrade_kept_every_volume(_state(_mounted(_volume("pastes"), "pastes")))


def test_a_service_removed_and_created_again_fails() -> None:
    # what `docker stack rm` + `docker stack deploy` does: same names, new ids, volumes kept
    after = _identity({"app": ("svc-app-2", 1), "db": ("svc-db-2", 2)})
    with pytest.raises(AssertionError, match="app was removed and created again"):
        floor.test_the_upgrade_updated_each_service_in_place(_state(after))


def test_a_service_the_upgrade_did_not_update_fails() -> None:
    after = _identity({"app": ("svc-app", 14), "db": ("svc-db", 11)})
    with pytest.raises(AssertionError, match="db was not updated \\(spec version 11 before and after\\)"):
        floor.test_the_upgrade_updated_each_service_in_place(_state(after))


def test_a_service_the_head_no_longer_declares_may_stay_as_it_was() -> None:
    after = _identity({"app": ("svc-app", 14), "db": ("svc-db", 11)})
    floor.test_the_upgrade_updated_each_service_in_place(_state(after, declared_services=["app"]))


def test_another_stack_or_a_lost_service_fails() -> None:
    with pytest.raises(AssertionError, match="moved from stack"):
        floor.test_the_upgrade_kept_the_stack_and_its_services(app(), _state(_identity(stack="other_test")))
    with pytest.raises(AssertionError, match="gone after the upgrade: db"):
        floor.test_the_upgrade_kept_the_stack_and_its_services(app(), _state(_identity({"app": ("svc-app", 14)})))


def test_no_recorded_identity_is_a_failure_not_a_pass() -> None:
    state = _state()
    state.ops["upgrade"] = state.ops["upgrade"].model_copy(update={"identity": None})
    with pytest.raises(AssertionError, match="records no identity"):
        floor.test_the_upgrade_kept_every_volume(state)


# -- what runs now -------------------------------------------------------------------------------


def test_the_version_label_is_the_one_the_head_declares() -> None:
    floor.test_the_version_label_is_the_one_the_pr_head_declares(app(), {VERSION: "1.1.0+1.1"}, _state())
    with pytest.raises(AssertionError, match="the app's version label is 1.0.0\\+1.0 \\(the base's was 1.0.0\\+1.0\\); "
                                             "the PR head's compose declares 1.1.0\\+1.1"):
        floor.test_the_version_label_is_the_one_the_pr_head_declares(app(), {VERSION: "1.0.0+1.0"}, _state())


def test_a_version_label_lost_to_the_old_form_names_it_with_the_fix() -> None:
    old = {f"coop-cloud.{STACK}.app.version": "1.1.0+1.1"}
    with pytest.raises(AssertionError) as failed:
        floor.test_the_version_label_is_the_one_the_pr_head_declares(app(), old, _state())
    assert str(failed.value) == (
        f"the app's version label is absent (the base's was 1.0.0+1.0); the PR head's compose declares 1.1.0+1.1 "
        f"(label `{VERSION}`): the app's services carry no `{VERSION}` label, but the old form "
        f"`coop-cloud.{STACK}.app.version=1.1.0+1.1` (older Co-op Cloud recipes): rename it to "
        "`coop-cloud.${STACK_NAME}.version` in the compose file's deploy labels (cc-ci reads only that form)")


def test_a_pinned_base_whose_label_the_head_still_carries_passes() -> None:
    # UPGRADE_BASE_VERSION = "1.1.0+1.1" and the PR head still declares 1.1.0+1.1
    state = _state(base_label="1.1.0+1.1", declared="1.1.0+1.1")
    floor.test_the_version_label_is_the_one_the_pr_head_declares(app(), {VERSION: "1.1.0+1.1"}, state)


def test_the_chaos_version_is_the_pr_head() -> None:
    labels = {f"coop-cloud.{STACK}.chaos": "true", f"coop-cloud.{STACK}.chaos-version": HEAD[:8]}
    floor.test_the_deployed_chaos_version_is_the_pr_head(app(), labels, _state())
    with pytest.raises(AssertionError, match="not the PR head"):
        floor.test_the_deployed_chaos_version_is_the_pr_head(
            app(), {**labels, f"coop-cloud.{STACK}.chaos-version": "0badc0de"}, _state())


def test_a_head_not_deployed_in_chaos_mode_fails_naming_the_label() -> None:
    with pytest.raises(AssertionError) as failed:
        floor.test_the_deployed_chaos_version_is_the_pr_head(app(), {}, _state())
    assert str(failed.value) == (f"the upgrade to the PR head f5984612 was not deployed in chaos mode (as `abra app "
                                 f"upgrade --chaos` does): `coop-cloud.{STACK}.chaos` is absent, expected true")
    with pytest.raises(AssertionError, match="the app runs no chaos-version label, not the PR head f5984612"):
        floor.test_the_deployed_chaos_version_is_the_pr_head(app(), {f"coop-cloud.{STACK}.chaos": "true"}, _state())


def test_a_hop_of_a_chain_runs_its_release_not_in_chaos_mode() -> None:
    state = _state()
    hop = state.ops["upgrade"].model_copy(update={"hop_to": "1.1.0+1.1", "deployment": deployment(
        {VERSION: "1.1.0+1.1"}).model_copy(update={"version": "1.1.0+1.1"})})
    state.ops["upgrade"] = hop
    floor.test_the_deployed_chaos_version_is_the_pr_head(app(), {}, state)
    with pytest.raises(AssertionError, match="deployed in chaos mode"):
        floor.test_the_deployed_chaos_version_is_the_pr_head(app(), {f"coop-cloud.{STACK}.chaos": "true"}, state)
    state.ops["upgrade"] = hop.model_copy(update={"deployment": deployment({VERSION: "1.0.0+1.0"})})
    with pytest.raises(AssertionError, match="the hop to 1.1.0\\+1.1 deployed 1.0.0"):
        floor.test_the_deployed_chaos_version_is_the_pr_head(app(), {}, state)


# -- serving and routing (the same rules as after install) ---------------------------------------


def test_a_login_protected_app_and_a_booting_worker_facing_service_serve() -> None:
    labels = {"app": web(), "api": web(3000, f"Host(`{STACK}.test`)", router="api"), "worker": {}}
    target = StubTarget(labels, {("app", 80): [401], ("api", 3000): [REFUSED, 303]})
    f = fixtures(target)
    floor.test_every_web_service_answers_http(f["serving"], f["web_services"])
    floor.test_a_router_sends_the_apps_domain_to_a_port_that_answers(f["app"], f["web_services"], f["serving"])
    floor.test_every_web_service_is_routed_under_a_host(f["web_services"])


def test_a_service_that_stops_answering_after_the_upgrade_fails() -> None:
    f = fixtures(StubTarget({"app": web()}, {("app", 80): [502]}), timeout_s=0.0)
    with pytest.raises(AssertionError, match="app: GET / on port 80 .* answered 502, a server error"):
        floor.test_every_web_service_answers_http(f["serving"], f["web_services"])


def test_a_head_that_misspells_the_domain_variable_fails_the_routing_checks() -> None:
    f = fixtures(StubTarget({"app": web(rule="Host(``)")}, {("app", 80): [200]}))
    with pytest.raises(AssertionError, match="no router of a web-facing service routes"):
        floor.test_a_router_sends_the_apps_domain_to_a_port_that_answers(f["app"], f["web_services"], f["serving"])
    with pytest.raises(AssertionError, match="routes no host"):
        floor.test_every_web_service_is_routed_under_a_host(f["web_services"])


def test_every_service_converged() -> None:
    floor.test_every_service_converged([])
    with pytest.raises(AssertionError, match="app: 0/1 running"):
        floor.test_every_service_converged(["app: 0/1 running"])
    with pytest.raises(AssertionError, match="^after the upgrade, 1 service of the app is not running every task of "
                                             "its spec: app: 0/1 running \\(the op had seen"):
        floor.test_every_service_converged(["app: 0/1 running"])
