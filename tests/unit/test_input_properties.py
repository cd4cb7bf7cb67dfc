"""Fuzzing where input comes from a PR (issue 21, point 6): the `.env` parser, the traefik rule
parser, backup-bot-two's label readers and the bounded YAML loader. No input makes one of them
raise anything but its own documented error:

- `envfile`: BadInput (a line, a quote, a length modifier, COMPOSE_FILE, the env's bound);
  `parse_abra_exports` raises nothing (it ignores what it does not read);
- `traefik`: RuleError from `rule_routes`; everything else answers (an unreadable rule is
  "not judged");
- `backupbot`: LabelError (and the loader's RecipeFileError from `from_compose`);
- `bounded.load_yaml`: RecipeFileError.

The strategies build text from each grammar's own pieces, so that the search reaches the
parsers' corners (quotes in expansions, nested matchers, aliases of aliases) and not only their
first error.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from runner.errors import BadInput
from runner.recipe import backupbot, bounded, traefik
from runner.recipe.backupbot import LabelError, Mount, StackView
from runner.recipe.envfile import (
    EnvFile,
    compose_files,
    parse_abra_exports,
    parse_env,
    reread_app_env,
    secret_specs,
    with_values,
)


def _pieces(*fixed: str, alphabet: str = "") -> st.SearchStrategy[str]:
    """Text made of a grammar's pieces and a little of anything."""
    anything = st.text(alphabet=alphabet, max_size=4) if alphabet else st.text(max_size=4)
    return st.lists(st.one_of(st.sampled_from(fixed), anything), max_size=24).map("".join)


# -- .env ------------------------------------------------------------------------------------

_ENV_PIECES = ("A", "SECRET_X_VERSION", "COMPOSE_FILE", "DOMAIN", "=", "export ", " ", "\t", "#", " # ", "'", '"',
               "\\", "\\$", "$", "$A", "${A}", "${A:-", "${B:-x}", "}", ":", "..", "/", "v1", "length=", "length=0",
               "length=99999", "length=²", "\n", "\r\n", "\x0b", "\u2028")
env_text = _pieces(*_ENV_PIECES)
env_values = st.dictionaries(st.sampled_from(["A", "B", "DOMAIN", "COMPOSE_FILE"]), _pieces(*_ENV_PIECES), max_size=3)


@given(text=env_text, base=env_values, overrides=env_values)
def test_parse_env_returns_an_env_or_raises_bad_input(text: str, base: dict[str, str], overrides: dict[str, str]) -> None:
    try:
        env = parse_env(text, base=base, overrides=overrides, source=".env.sample")
    except BadInput as err:
        assert str(err).startswith(".env.sample") and "\n" not in str(err).split(": ", 1)[0]
        return
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in env.values.items())
    for step in (compose_files, lambda values: secret_specs(EnvFile(values, env.modifiers))):
        try:
            step(env.values)
        except BadInput:
            pass


@given(text=env_text)
def test_rereading_an_app_env_returns_or_raises_bad_input(text: str) -> None:
    try:
        reread_app_env(text, [], source="app.env")
    except BadInput:
        pass


@given(text=_pieces("export ", "A=", "B=", "'", '"', "$", "`", "#", " ", "\n", "=", "X_VERSION=v1"))
def test_abra_exports_never_raise(text: str) -> None:
    exports = parse_abra_exports(text)
    assert all("$" not in v and "`" not in v for v in exports.values())


@given(value=st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"),
                     max_size=40))
def test_a_value_written_by_with_values_reads_back_exactly(value: str) -> None:
    assert parse_env(with_values("A=old\n", {"A": value})).values["A"] == value


def test_a_nul_is_refused_at_its_line_not_read_as_a_dollar() -> None:
    with pytest.raises(BadInput, match=r"^\.env:2: a NUL character; remove it"):
        parse_env("A=1\nB='x\x00y'\n")


# -- traefik rules ---------------------------------------------------------------------------

_RULE_PIECES = ("Host(", "HostHeader(", "HostRegexp(", "PathPrefix(", "Method(", "`", "`a.example.com`",
                "`{sub:[a-z]+}.example.com`", "`.*`", "`(`", "`a{99999999999}`", '"', '"\\"', "(", ")", "!", "&&",
                "||", ",", " ", "{", "}", "[", "]", "\\", "host")
rules = _pieces(*_RULE_PIECES)


@given(rule=rules, host=st.sampled_from(["a.example.com", "b.example.com", ""]))
def test_a_rule_routes_a_host_or_raises_rule_error(rule: str, host: str) -> None:
    assert isinstance(traefik.rule_hosts(rule), list)
    try:
        assert isinstance(traefik.rule_routes(rule, host), bool)
    except traefik.RuleError:
        pass
    router = traefik.Router("r", rule, "s", 80, "app")
    assert isinstance(router.routes(host), bool) and isinstance(router.hosts(), list)


@pytest.mark.parametrize("rule", ["(" * 2000 + "Host(`a`)" + ")" * 2000, "!" * 5000 + "Host(`a`)",
                                  "Host(`a`) && " * 3000 + "Host(`a`)", "HostRegexp(`" + "(" * 5000 + "`)"])
def test_a_deep_or_long_rule_is_judged_or_rule_error_never_a_crash(rule: str) -> None:
    try:
        traefik.rule_routes(rule, "a")
    except traefik.RuleError:
        pass
    assert isinstance(traefik.Router("r", rule, "s", 80, "app").routes("a"), bool)
    assert isinstance(traefik.rule_hosts(rule), list)


_LABEL_KEYS = ("traefik.enable", "traefik.http.routers.r.rule", "traefik.http.routers.r.service",
               "traefik.http.routers.q.rule", "traefik.http.routers.q.service", "traefik.http.routers.r.entrypoints",
               "traefik.http.services.s.loadbalancer.server.port", "traefik.http.services.t.loadbalancer.server.port",
               "traefik.tcp.routers.m.rule", "traefik.http.routers..rule", "traefik.http.services.s.x")
_LABEL_VALUES = st.one_of(st.sampled_from(["true", "1", "false", "80", "8080", "²", "٣", " 80 ", "s", "t", "api@internal",
                                           "", "Host(`a.example.com`)", "Host(``)"]), rules)
_PORTS = st.sampled_from(["80", "8080", "²", "٣", " 80 ", "", "x", "99999999999999999999"])
_SERVICE_LABELS = st.fixed_dictionaries(
    {"traefik.enable": st.sampled_from(["true", "1", "false", " TRUE "])},
    optional={**{key: _LABEL_VALUES for key in _LABEL_KEYS[1:] if not key.endswith(".port")},
              **{key: _PORTS for key in _LABEL_KEYS if key.endswith(".port")}})
stack_labels = st.dictionaries(st.sampled_from(["app", "web", "worker"]),
                               st.tuples(_SERVICE_LABELS, st.dictionaries(st.text(max_size=30), _LABEL_VALUES, max_size=2))
                               .map(lambda both: {**both[1], **both[0]}), max_size=3)


@given(labels=stack_labels, domain=st.sampled_from(["a.example.com", "b.example.com"]))
def test_the_traefik_readers_answer_for_any_labels(labels: dict[str, dict[str, str]], domain: str) -> None:
    services = traefik.web_services(labels)
    for target in traefik.serving_targets(services, domain):
        assert isinstance(target.port, int) and target.service in labels
    for service in services:
        assert all(isinstance(line, str) for line in traefik.routing_problems(service))
    traefik.routes_domain(services, domain)


# -- backup-bot-two's labels -----------------------------------------------------------------

_BB_KEYS = ("backupbot.backup", "backupbot.backup.path", "backupbot.backup.volumes.content",
            "backupbot.backup.volumes.content.path", "backupbot.backup.volumes.db.path", "backupbot.backup.volumes.",
            "backupbot.backup.volumes..path", "backupbot.backup.pre-hook", "backupbot.restore.post-hook",
            "backupbot.backup.pre-hok", "backupbot.")
_PATHS = ("/", "/srv", "/srv/www", "srv", "..", "../x", "a/../..", "a,b", " , ", "/srv/www/../../etc", ".", "")
bb_values = st.one_of(st.sampled_from(("true", "TRUE", "false", " true ", *_PATHS)), _pieces(*_PATHS, ","))
bb_labels = st.dictionaries(st.sampled_from(["app", "db", "worker"]),
                            st.dictionaries(st.one_of(st.sampled_from(_BB_KEYS), st.text(max_size=20)), bb_values, max_size=6),
                            max_size=3)
mounts = st.lists(st.builds(Mount, st.sampled_from(["/", "/srv", "/srv/www", "/var/lib/db", "/srv/www/"]),
                            st.sampled_from([None, "content", "db", "other"])), max_size=4)


@given(labels=bb_labels, by_service=st.dictionaries(st.sampled_from(["app", "db", "worker"]), mounts, max_size=3),
       volumes=st.lists(st.sampled_from(["content", "db", "cache", ""]), max_size=3, unique=True))
def test_a_backup_plan_is_made_or_label_error(labels: dict[str, dict[str, str]], by_service: dict[str, list[Mount]],
                                             volumes: list[str]) -> None:
    view = StackView(labels=labels, mounts=by_service, volumes=volumes)
    assert all(isinstance(w, str) for w in backupbot.label_warnings(labels, volumes))
    assert isinstance(backupbot.opted_in(labels), list)
    try:
        backupbot.read_volume_labels(labels, volumes)
        taken = backupbot.plan(view)
    except LabelError:
        return
    for paths in taken.volumes.values():
        assert all(not p.startswith(("/", "..")) for p in paths)  # every path stays inside its volume
    taken.nothing_to_take(volumes)


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from(("x", "content:/srv", "./c:/c", "/data", "")))
_compose_leaves = st.one_of(_scalars, bb_labels.map(lambda d: next(iter(d.values()), {})),
                            st.lists(st.sampled_from(["backupbot.backup=true", "a=b", "=", "content:/srv/www:ro"]), max_size=3),
                            st.fixed_dictionaries({}, optional={"source": _scalars, "target": _scalars, "type": st.sampled_from(["volume", "bind"])}))
compose_data = st.recursive(_compose_leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.sampled_from(["services", "volumes", "deploy", "labels", "app", "db", "content"]), inner, max_size=3)),
    max_leaves=12)


_label_forms = st.one_of(_scalars, bb_labels.map(lambda d: next(iter(d.values()), {})),
                        st.lists(st.one_of(st.sampled_from(["backupbot.backup=true", "backupbot.backup.path=/srv",
                                                            "backupbot.backup.volumes.content.path=..", "=", "x"]),
                                           _scalars), max_size=4))
_volume_entries = st.lists(st.one_of(_scalars, st.fixed_dictionaries({}, optional={
    "source": _scalars, "target": _scalars, "type": st.sampled_from(["volume", "bind", "tmpfs", 3])})), max_size=3)
_service = st.fixed_dictionaries({}, optional={
    "deploy": st.one_of(_scalars, st.fixed_dictionaries({}, optional={"labels": _label_forms})),
    "volumes": st.one_of(_scalars, _volume_entries)})
compose_shaped = st.fixed_dictionaries({}, optional={
    "services": st.one_of(_scalars, st.dictionaries(st.sampled_from(["app", "db", 1]), st.one_of(_service, _scalars), max_size=3)),
    "volumes": st.one_of(_scalars, st.dictionaries(st.sampled_from(["content", "db", 2]), st.none(), max_size=2),
                         st.lists(_scalars, max_size=2))})


@given(data=st.one_of(compose_data, compose_shaped))
def test_from_compose_reads_any_yaml_shape_or_raises_its_own_errors(data: Any) -> None:
    text = yaml.safe_dump(data)
    try:
        view = backupbot.from_compose([text])
    except (LabelError, bounded.RecipeFileError):
        return
    try:
        backupbot.plan(view)
    except LabelError:
        pass


# -- the bounded YAML loader -----------------------------------------------------------------

_YAML_PIECES = ("&a ", "&b ", "*a", "*b", "[", "]", "{", "}", ": ", "- ", "\n", "\n  ", "\n- ", "<<: ", "<<: *a", "? ",
                ", ", "'", '"', "!!int ", "!!float ", "!!binary ", "!!timestamp ", "!!set ", "!!omap ", "!!str ",
                "!!python/name:os.system ", "!custom ", "2020-13-45", "2001-12-14t21:59:43.10-05:00", "0x", "0o", "1e400",
                ".inf", "---\n", "...\n", "# c\n", "%YAML 1.1\n", "%TAG ! tag:x\n", "|\n  ", ">\n  ", "x", "1", "~", "\t", "\\")
yaml_text = _pieces(*_YAML_PIECES)


@pytest.mark.parametrize("loader", [pytest.param(yaml.SafeLoader, id="python"),
                                    *([pytest.param(yaml.CSafeLoader, id="libyaml")] if hasattr(yaml, "CSafeLoader") else [])])
def test_the_bounded_loader_loads_or_raises_its_own_error(loader: type, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bounded, "_Loader", loader)

    @given(text=yaml_text)
    def loads_or_refuses(text: str) -> None:
        try:
            bounded.load_yaml(text, "compose.yml")
        except bounded.RecipeFileError as err:
            assert str(err).startswith("compose.yml: ") and "\n" not in str(err)

    loads_or_refuses()
