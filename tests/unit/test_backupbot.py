"""backup-bot-two's labels read into a backup plan: opt-in, volumes, exclusions, path limits,
the legacy path, hooks — from compose files in both label forms and from deployed labels."""

from __future__ import annotations

import pytest

from runner.recipe.backupbot import (
    Hook,
    LabelError,
    Mount,
    StackView,
    from_compose,
    label_warnings,
    plan,
    read_volume_labels,
    unsupported_reason,
)

LIST_FORM = """
services:
  app:
    image: app
    volumes:
      - content:/srv/www
      - ./conf:/etc/conf
    deploy:
      labels:
        - "backupbot.backup=true"
        - "backupbot.backup.pre-hook=sh -c 'dump > /srv/www/dump.sql'"
        - "backupbot.backup.post-hook=rm -f /srv/www/dump.sql"
        - "backupbot.backup.volumes.cache=false"
        - "backupbot.backup.volumes.db.path=dump.sql, /exports/ "
  db:
    image: db
    volumes:
      - type: volume
        source: db
        target: /var/lib/db
      - cache:/cache
volumes:
  content:
  db:
  cache:
"""

MAP_FORM = """
services:
  app:
    image: app
    volumes: ["content:/srv/www:ro"]
    deploy:
      labels:
        backupbot.backup: "true"
        backupbot.backup.volumes.cache: "false"
        backupbot.backup.volumes.db.path: "dump.sql,/exports/"
        backupbot.restore.post-hook: "reload"
  db:
    image: db
    volumes: [db:/var/lib/db, cache:/cache]
    deploy:
      labels:
        backupbot.backup.pre-hook: "sh -c 'dump > /var/lib/db/dump.sql'"
volumes:
  content:
  db:
  cache:
"""


def _view(labels: dict[str, dict[str, str]], mounts: dict[str, list[Mount]] | None = None,
          volumes: tuple[str, ...] = ("content",)) -> StackView:
    return StackView(labels=labels, mounts=mounts or {}, volumes=list(volumes))


def test_list_and_map_label_forms_give_the_same_volumes_and_exclusions() -> None:
    listed, mapped = plan(from_compose([LIST_FORM])), plan(from_compose([MAP_FORM]))
    expected = {"content": [], "db": ["dump.sql", "exports"]}
    assert listed.volumes == mapped.volumes == expected
    assert listed.excluded == mapped.excluded == ["cache"]


def test_every_volume_is_taken_whichever_service_mounts_it() -> None:
    # the opt-in is on `app`; `db` and `cache` are only mounted by `db`
    taken = plan(from_compose([LIST_FORM.replace('        - "backupbot.backup.volumes.cache=false"\n', "")]))
    assert set(taken.volumes) == {"content", "db", "cache"}
    assert taken.excluded == []


def test_hooks_run_in_the_service_that_carries_them() -> None:
    listed, mapped = plan(from_compose([LIST_FORM])), plan(from_compose([MAP_FORM]))
    assert listed.hooks_for("backup", "pre") == [
        Hook("app", "backupbot.backup.pre-hook", "sh -c 'dump > /srv/www/dump.sql'")]
    assert listed.hooks_for("backup", "post") == [Hook("app", "backupbot.backup.post-hook", "rm -f /srv/www/dump.sql")]
    assert mapped.hooks_for("backup", "pre") == [
        Hook("db", "backupbot.backup.pre-hook", "sh -c 'dump > /var/lib/db/dump.sql'")]
    assert mapped.hooks_for("restore", "post") == [Hook("app", "backupbot.restore.post-hook", "reload")]
    assert mapped.hooks_for("restore", "pre") == []


def test_no_opt_in_label_is_unsupported_with_the_reason() -> None:
    view = from_compose([MAP_FORM.replace('backupbot.backup: "true"', 'backupbot.backup: "false"')])
    reason = unsupported_reason(view.labels)
    assert reason is not None and "backupbot.backup=true" in reason
    with pytest.raises(LabelError, match="backupbot.backup=true"):
        plan(view)
    assert unsupported_reason({"app": {}}) is not None
    assert unsupported_reason({"app": {"backupbot.backup": "True"}}) is None


def test_two_services_opted_in_back_the_app_up_once() -> None:
    labels = {"app": {"backupbot.backup": "true", "backupbot.backup.path": "/srv/www/uploads"},
              "worker": {"backupbot.backup": "true", "backupbot.backup.path": "/data"}}
    mounts = {"app": [Mount("/srv/www", "content")], "worker": [Mount("/data", "data")]}
    taken = plan(_view(labels, mounts, ("content", "data", "logs")))
    assert taken.volumes == {"content": ["uploads"], "data": [], "logs": []}


def test_path_limits_are_relative_to_the_volume_root_and_minimal() -> None:
    labels = {"app": {"backupbot.backup": "true",
                      "backupbot.backup.volumes.content.path": "a/b,/a/,c/./d/,  ,c/d/e"}}
    assert plan(_view(labels)).volumes == {"content": ["a", "c/d"]}


def test_a_path_limit_cannot_leave_its_volume() -> None:
    labels = {"app": {"backupbot.backup": "true", "backupbot.backup.volumes.content.path": "../etc"}}
    with pytest.raises(LabelError, match="leaves the volume"):
        plan(_view(labels))


def test_the_legacy_path_limits_the_volume_mounted_there() -> None:
    labels = {"app": {"backupbot.backup": "true", "backupbot.backup.path": "/srv/www/uploads,/srv/www/db.sql"}}
    mounts = {"app": [Mount("/srv", "other"), Mount("/srv/www", "content")]}
    taken = plan(_view(labels, mounts, ("content", "other")))
    assert taken.volumes == {"content": ["db.sql", "uploads"], "other": []}


def test_the_legacy_path_at_a_mount_point_takes_the_whole_volume() -> None:
    view = from_compose([LIST_FORM.replace('"backupbot.backup=true"', '"backupbot.backup=true"\n'
                                           '        - "backupbot.backup.path=/srv/www"')])
    assert plan(view).volumes["content"] == []


def test_the_legacy_path_must_be_on_a_volume_of_the_service() -> None:
    labels = {"app": {"backupbot.backup": "true", "backupbot.backup.path": "/etc/conf"}}
    with pytest.raises(LabelError, match="bind mount or tmpfs"):
        plan(StackView(labels, from_compose([LIST_FORM]).mounts, ["content"]))  # /etc/conf is ./conf
    with pytest.raises(LabelError, match="no mount of app holds"):
        plan(_view({"app": {**labels["app"], "backupbot.backup.path": "/opt"}}, {"app": [Mount("/srv/www", "content")]}))


def test_legacy_and_explicit_limits_on_one_volume_add_up() -> None:
    labels = {"app": {"backupbot.backup": "true", "backupbot.backup.path": "/srv/www/uploads",
                      "backupbot.backup.volumes.content.path": "db.sql"}}
    taken = plan(_view(labels, {"app": [Mount("/srv/www", "content")]}))
    assert taken.volumes == {"content": ["db.sql", "uploads"]}


def test_a_label_naming_no_volume_of_the_stack_is_noted_not_fatal() -> None:
    labels = {"app": {"backupbot.backup": "true", "backupbot.backup.volumes.typo": "false"}}
    taken = plan(_view(labels))
    assert taken.volumes == {"content": []} and taken.excluded == []
    assert any("typo" in note for note in taken.notes)


def test_a_later_compose_file_overrides_labels_and_mounts() -> None:
    override = """
services:
  app:
    deploy:
      labels:
        backupbot.backup.volumes.cache: "true"
"""
    taken = plan(from_compose([MAP_FORM, override]))
    assert taken.excluded == [] and "cache" in taken.volumes


def test_short_volume_syntax_tells_named_volumes_from_binds() -> None:
    view = from_compose([LIST_FORM])
    assert view.mounts["app"] == [Mount("/srv/www", "content"), Mount("/etc/conf", None)]
    assert view.mounts["db"] == [Mount("/var/lib/db", "db"), Mount("/cache", "cache")]


# -- the labels' warnings, and what the floor reads the same way as the op (issue 11: 3, 6, 15) --

def test_a_misspelt_hook_label_is_a_warning_with_a_did_you_mean() -> None:
    labels = {"app": {"backupbot.backup": "true", "backupbot.backup.pre-hok": "dump > /srv/www/dump.sql"}}
    taken = plan(_view(labels))
    assert taken.hooks_for("backup", "pre") == [], "a misspelt hook is not run, as in backup-bot-two"
    assert taken.notes == ["warning: backupbot.backup.pre-hok on app: not a backupbot label; backup-bot-two "
                           "ignores it; did you mean backupbot.backup.pre-hook?"]


def test_a_volume_label_naming_no_volume_suggests_the_stacks_volume() -> None:
    labels = {"app": {"backupbot.backup": "true", "backupbot.backup.volumes.contnet.path": "uploads",
                      "backupbot.backup.volume.content": "false"}}
    notes = label_warnings(labels, ["content"])
    assert notes == [
        "warning: backupbot.backup.volume.content on app: not a backupbot label; backup-bot-two ignores it; "
        "did you mean backupbot.backup.volumes.content?",
        "warning: backupbot.backup.volumes.contnet.path on app: the stack has no volume 'contnet'; backup-bot-two "
        "ignores it; did you mean backupbot.backup.volumes.content.path?"]
    assert plan(_view(labels)).volumes == {"content": []}


def test_known_labels_and_other_keys_give_no_warning() -> None:
    labels = {"app": {"backupbot.backup": "true", "backupbot.backup.path": "/srv/www",
                      "backupbot.backup.volumes.content.path": "a", "backupbot.restore.post-hook": "x",
                      "traefik.enable": "true", "coop-cloud.app.version": "1.0.0+1.0"}}
    assert label_warnings(labels, ["content"]) == []


def test_an_excluded_volume_ignores_its_path_label_and_says_so() -> None:
    labels = {"app": {"backupbot.backup": "true", "backupbot.backup.volumes.data": "false",
                      "backupbot.backup.volumes.data.path": "dumps"}}
    read = read_volume_labels(labels, ["content", "data"])
    assert read.excluded == {"data"} and read.limits == {}
    assert read.notes == ["backupbot.backup.volumes.data.path: data is excluded (backupbot.backup.volumes.data=false), "
                          "so its path label is ignored"]
    taken = plan(_view(labels, volumes=("content", "data")))
    assert taken.volumes == {"content": []} and taken.excluded == ["data"]
    assert read.notes[0] in taken.notes


def test_the_volume_labels_read_by_the_floor_are_the_ones_the_plan_follows() -> None:
    labels = {"app": {"backupbot.backup": "true", "backupbot.backup.volumes.content.path": "b/,a,a/x",
                      "backupbot.backup.volumes.gone.path": "x", "backupbot.backup.volumes.gone": "false"}}
    read = read_volume_labels(labels, ["content"])
    assert read.limits == {"content": ["a", "b"]} and read.excluded == set()
    assert plan(_view(labels)).volumes == read.limits


def test_nothing_to_take_says_what_is_wrong_with_the_recipe() -> None:
    no_volume = plan(_view({"app": {"backupbot.backup": "true"}}, volumes=()))
    reason = no_volume.nothing_to_take([])
    assert reason is not None and "no service of the stack mounts a volume" in reason
    assert "backup-bot-two would back up none of the app's files" in reason
    all_out = plan(_view({"app": {"backupbot.backup": "true", "backupbot.backup.volumes.content": "false"}}))
    reason = all_out.nothing_to_take(["content"])
    assert reason is not None and "exclude every volume of the stack (content)" in reason
    assert plan(_view({"app": {"backupbot.backup": "true"}})).nothing_to_take(["content"]) is None
