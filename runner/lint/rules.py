"""The lint rules: one small function per rule over a recipe's files at one ref. Pure: no git.

A rule yields `(file, message)` pairs; `lint.py` turns them into `Finding`s with the rule's id
and level. Ids are abra's R-numbers only where abra's own docs confirm the rule (docs/lint.md says
which); the others are cc-ci's own `CCCI-Lnn`.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from runner.errors import BadInput
from runner.lint.scan import Mount, documented, named_mounts, used_variables
from runner.recipe import bounded, naming
from runner.recipe.compose import VERSION_LABEL, deploy_labels
from runner.recipe.envfile import compose_files, parse_abra_exports, parse_env

Level = Literal["error", "warn"]
# (file, one-line message naming the file and the fix[, the level when not the rule's own])
Problems = Iterator[tuple[str, str] | tuple[str, str, Level]]

# Docker refuses secret and config names longer than 64 characters.
DOCKER_NAME_LIMIT = naming.MAX_SWARM_OBJECT_NAME
# What compose interpolation has besides .env.sample and abra.sh (runner/recipe/compose.py:
# interpolation_env): the harness sets STACK_NAME; the docker CLI runs with the host's PATH and HOME.
# DOMAIN is not one: the harness sets the run's domain as .env.sample's DOMAIN, where it has one
HARNESS_VARIABLES = ("STACK_NAME", "PATH", "HOME")
OLD_VERSION_LABEL = "coop-cloud.${STACK_NAME}.app.version"

_VERSION_TAG = re.compile(r"^v?\d+(\.\d+)*([-+_.~][0-9A-Za-z][0-9A-Za-z.+_~-]*)?$")
_RELEASE_TAG = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?\+[0-9A-Za-z][0-9A-Za-z._-]*$")
_VAR = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")
_VERSION_VAR = re.compile(r"^[A-Z0-9_]+_VERSION$")
_SECRET_VERSION = re.compile(r"^SECRET_(?P<name>[A-Z0-9_]+)_VERSION$")
_EXPORTED = re.compile(r"^\s*export\s+(?P<key>[A-Za-z_][A-Za-z0-9_]*)=", re.MULTILINE)


@dataclass(frozen=True)
class Finding:
    rule: str
    level: Level
    file: str
    message: str  # one line: names the file and the fix
    opted_out: str | None = None  # the recipe's reason, when it opted out of this rule

    @property
    def blocking(self) -> bool:
        """An error nobody opted out of: makes `cc-ci lint` exit 1 and the lint tier fail."""
        return self.level == "error" and self.opted_out is None

    def line(self) -> str:
        if self.opted_out is not None:
            return f"{self.rule:<9} {self.level:<5} {self.message} [opted out: {self.opted_out}]"
        return f"{self.rule:<9} {self.level:<5} {self.message}"


@dataclass
class RecipeFiles:
    """What the rules read: a recipe's files at one ref (None = absent) and its release tags."""

    ref: str
    env_sample: str | None
    abra_sh: str | None
    compose: dict[str, str | None]  # the COMPOSE_FILE chain, in order
    tags: dict[str, bool]  # tag reachable from the ref -> annotated?
    chain_error: str | None = None  # COMPOSE_FILE itself is unusable
    env: dict[str, str] = field(default_factory=dict)
    env_error: str | None = None
    parsed: dict[str, dict[str, Any]] = field(default_factory=dict)  # the chain files that parse
    parse_errors: dict[str, str] = field(default_factory=dict)  # file -> its one-line finding
    refused: dict[str, str] = field(default_factory=dict)  # file -> why cc-ci will not read it (a bound, not UTF-8)
    outside: dict[str, str] = field(default_factory=dict)  # file -> why: not a regular file inside the recipe
    host_files: list[tuple[str, str]] = field(default_factory=list)  # (file, why) a deploy would read out of it
    previous: RecipeFiles | None = None  # the newest release before the ref, as it was released
    notes: dict[str, str] = field(default_factory=dict)  # release/<x> files added or changed since `previous`

    def __post_init__(self) -> None:
        for name, text in self.compose.items():
            if text is None:
                continue
            try:
                data = bounded.load_yaml(text, name)
            except bounded.NotYaml as err:
                self.parse_errors[name] = str(err)
                continue
            except bounded.OverLimit as err:
                self.refused[name] = str(err)
                continue
            problem = _shape_problem(data)
            if problem:
                self.parse_errors[name] = f"{name}: does not parse: {problem}; fix the YAML"
            else:
                self.parsed[name] = data or {}

    @property
    def whole_chain(self) -> bool:
        """Every file of the chain that exists was read and parsed (CCCI-L01/L12/L13 say which not)."""
        return not self.parse_errors and not self.refused and not set(self.outside) & set(self.compose)

    def services(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """Each service merged across the chain (a later file overrides keys), with the file that
        declares it first. None while a file of the chain could not be read: the rest alone would
        be judged as if it were the whole chain (an app without its image, ...)."""
        merged: dict[str, tuple[str, dict[str, Any]]] = {}
        if not self.whole_chain:
            return merged
        for name, data in self.parsed.items():
            for service, spec in (data.get("services") or {}).items():
                first, so_far = merged.get(str(service), (name, {}))
                labels = {**deploy_labels(so_far), **deploy_labels(spec or {})}
                combined = {**so_far, **(spec or {})}
                combined["deploy"] = {**(so_far.get("deploy") or {}), **((spec or {}).get("deploy") or {}),
                                      "labels": labels}
                merged[str(service)] = (first, combined)
        return merged

    def top_level(self, kind: str) -> dict[str, tuple[str, dict[str, Any]]]:
        """Top-level `secrets:` or `configs:` across the chain, with the file declaring each."""
        found: dict[str, tuple[str, dict[str, Any]]] = {}
        if not self.whole_chain:
            return found
        for name, data in self.parsed.items():
            for key, spec in (data.get(kind) or {}).items():
                first, so_far = found.get(str(key), (name, {}))
                found[str(key)] = (first, {**so_far, **(spec if isinstance(spec, dict) else {})})
        return found

    def mounts(self) -> list[Mount]:
        """The named volumes each service mounts, across the chain (a later file's list replaces)."""
        volumes = self.top_level("volumes")
        return named_mounts({s: spec for s, (_f, spec) in self.services().items()},
                            {k: spec for k, (_f, spec) in volumes.items()},
                            lambda text: self.expand(text, {"STACK_NAME": "<stack>"}))

    def secret_names(self) -> list[str]:
        """The secrets an operator generates: top-level `secrets:` and `.env.sample`'s SECRET_*_VERSION."""
        from_env = [m["name"].lower() for key in self.env if (m := _SECRET_VERSION.match(key))]
        return sorted(set(self.top_level("secrets")) | set(from_env))

    def expand(self, text: str, extra: dict[str, str] | None = None) -> str:
        scope = {**self.env, **(extra or {})}

        def value(m: re.Match[str]) -> str:
            name = m["braced"] or m["bare"]
            return scope.get(name) or (m["default"] or "")
        return _VAR.sub(value, text)


def _shape_problem(data: object) -> str | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        return "is not a YAML mapping (services:, volumes:, ...)"
    for section in ("services", "secrets", "configs", "volumes", "networks"):
        value = data.get(section)
        if value is not None and not isinstance(value, dict):
            return f"its {section}: is not a mapping of names"
    for service, spec in (data.get("services") or {}).items():
        if spec is not None and not isinstance(spec, dict):
            return f"service {service} is not a mapping"
    return None


def read_recipe(ref: str, files: dict[str, str | None], tags: dict[str, bool],
                refused: dict[str, str] | None = None, outside: dict[str, str] | None = None) -> RecipeFiles:
    """Build the rules' view from `.env.sample`, `abra.sh` and the chain files' texts.

    `files` maps a recipe path to its text at the ref; chain files missing from it are absent.
    `refused` maps a file read past its size limit (not read: absent from `files`) to why;
    `outside` a file that is not a regular file inside the recipe (not read either).
    """
    refused = dict(refused or {})
    env_sample = files.get(".env.sample")
    try:
        env, env_error = env_values(env_sample)
    except bounded.OverLimit as err:  # its values expand past the env's bound
        (env, env_error), refused[".env.sample"] = ({}, None), str(err)
    chain, chain_error = compose_chain(env)
    recipe = RecipeFiles(ref=ref, env_sample=env_sample, abra_sh=files.get("abra.sh"),
                         compose={name: files.get(name) for name in chain}, tags=tags,
                         chain_error=chain_error, env_error=env_error, refused=refused, outside=dict(outside or {}))
    recipe.env = {**env, **parse_abra_exports(recipe.abra_sh or "")}
    return recipe


def env_values(text: str | None) -> tuple[dict[str, str], str | None]:
    """`.env.sample`'s values, or why it does not parse; OverLimit past the env's bound."""
    if text is None:
        return {}, None
    try:
        return parse_env(text, source=".env.sample").values, None
    except bounded.OverLimit:
        raise
    except BadInput as err:
        return {}, str(err)


def compose_chain(env: dict[str, str]) -> tuple[list[str], str | None]:
    """The COMPOSE_FILE chain `.env.sample` declares, or compose.yml with why when it is unusable."""
    try:
        return compose_files(env), None
    except BadInput as err:
        return ["compose.yml"], str(err)


# -- the registry ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rule:
    id: str
    level: Level
    what: str
    check: Callable[[RecipeFiles], Problems]


RULES: dict[str, Rule] = {}


def rule(rule_id: str, level: Level, what: str) -> Callable[[Callable[[RecipeFiles], Problems]], Callable[[RecipeFiles], Problems]]:
    def register(check: Callable[[RecipeFiles], Problems]) -> Callable[[RecipeFiles], Problems]:
        RULES[rule_id] = Rule(rule_id, level, what, check)
        return check
    return register


# -- the rules ---------------------------------------------------------------------------------

@rule("CCCI-L01", "error", "compose files parse")
def compose_files_parse(r: RecipeFiles) -> Problems:
    if r.chain_error:
        yield ".env.sample", f".env.sample: {r.chain_error}"
    for name, text in r.compose.items():
        if name in r.refused or name in r.outside:
            continue  # CCCI-L12 or L13 says why
        if text is None:
            where = "COMPOSE_FILE in .env.sample lists it" if name != "compose.yml" else "every recipe needs it"
            yield name, f"{name}: missing at {r.ref} ({where}); add the file or drop it from COMPOSE_FILE"
        elif name in r.parse_errors:
            yield name, r.parse_errors[name]
    if r.parsed and not r.parse_errors and not r.refused and not r.services():
        yield next(iter(r.compose)), f"{next(iter(r.compose))}: declares no services; add a services: mapping"


@rule("CCCI-L02", "error", "every service has an image")
def services_have_images(r: RecipeFiles) -> Problems:
    for service, (file, spec) in r.services().items():
        if not str(spec.get("image") or "").strip():
            hint = " (swarm cannot build: drop build: and publish the image)" if "build" in spec else ""
            yield file, f"{file}: service {service} has no image{hint}; add image: <name>:<version>"


@rule("CCCI-L03", "warn", "images are tagged, and not with latest")
def images_tagged(r: RecipeFiles) -> Problems:
    for service, file, image, tag in _images(r):
        if tag is None and "@" not in image:
            yield file, f"{file}: service {service}'s image {image} has no tag; pin a version, e.g. {image}:1.2.3"
        elif tag == "latest":
            name = image.rsplit(":", 1)[0]
            yield file, f"{file}: service {service}'s image {image} uses latest; pin a version, e.g. {name}:1.2.3"


@rule("CCCI-L04", "warn", "image tags look like versions")
def tags_look_like_versions(r: RecipeFiles) -> Problems:
    for service, file, _image, tag in _images(r):
        if tag is not None and tag != "latest" and not _VERSION_TAG.match(tag):
            yield file, (f"{file}: service {service}'s image tag {tag!r} is not a version; "
                         "use a version tag (1.2.3, v2.1, 16-alpine) so upgrades can be ordered")


@rule("R002", "warn", "healthchecks are present")
def healthchecks_present(r: RecipeFiles) -> Problems:
    for service, (file, spec) in r.services().items():
        check = spec.get("healthcheck")
        disabled = not isinstance(check, dict) or check.get("disable") is True or check.get("test") in (["NONE"], "NONE")
        if disabled:
            yield file, (f"{file}: service {service} has no healthcheck; add healthcheck: (test, interval, "
                         "retries) so a deploy waits until it is healthy")


@rule("CCCI-L05", "warn", "there is an app service")
def app_service(r: RecipeFiles) -> Problems:
    services = r.services()
    if r.parsed and services and "app" not in services:
        file = next(iter(r.compose))
        yield file, (f"{file}: no service is named app (found {', '.join(services)}): abra's commands that "
                     "default to the app service (abra app run, cp, logs) will not find one; "
                     "rename the web-facing service to app")


@rule("CCCI-L06", "warn", "the app service has traefik enabled")
def traefik_enabled(r: RecipeFiles) -> Problems:
    found = r.services().get("app")
    if found is None:
        return  # CCCI-L05 says so
    file, spec = found
    if str(spec["deploy"]["labels"].get("traefik.enable", "")).strip().lower() != "true":
        yield file, (f"{file}: service app has no traefik.enable=true deploy label: traefik routes nothing to it, "
                     "so it is not reached at the app's domain; add it under deploy: labels:")


@rule("CCCI-L07", "error", ".env.sample is present and parses")
def env_sample_present(r: RecipeFiles) -> Problems:
    if ".env.sample" in r.refused or ".env.sample" in r.outside:
        return  # CCCI-L12 or L13 says why
    if r.env_sample is None:
        yield ".env.sample", (f".env.sample: missing at {r.ref}; add one with TYPE, DOMAIN and every setting "
                              "an operator may change")
    elif r.env_error:
        yield ".env.sample", f"{r.env_error}; fix that line"


@rule("CCCI-L08", "warn", "release tags are shaped <semver>+<upstream>")
def release_tags_shaped(r: RecipeFiles) -> Problems:
    for tag in sorted(r.tags):
        if not _RELEASE_TAG.match(tag):
            yield "git tags", (f"git tag {tag}: not a release version <semver>+<upstream> (e.g. 1.2.0+3.4.5), "
                               "the shape abra recipe release gives and releases are ordered by; "
                               "re-tag it with abra recipe release, or delete it")


@rule("CCCI-L09", "warn", "release tags are annotated")
def release_tags_annotated(r: RecipeFiles) -> Problems:
    for tag, annotated in sorted(r.tags.items()):
        if not annotated:
            yield "git tags", (f"git tag {tag}: a lightweight tag, unlike the annotated tags abra recipe release "
                               "makes (tools that read a release's tag message or date find none); re-create it annotated: "
                               f"git tag -f -a {tag} -m 'chore: publish {tag} release' {tag}^{{}}")


@rule("CCCI-L10", "error", "config and secret versions are vendored")
def versions_vendored(r: RecipeFiles) -> Problems:
    defined = set(r.env) | {m["key"] for m in _EXPORTED.finditer(r.abra_sh or "")}
    for kind, home, example in (("secrets", ".env.sample", "{var}=v1"), ("configs", "abra.sh", "export {var}=v1")):
        for key, (file, spec) in r.top_level(kind).items():
            for var in _referenced(str(spec.get("name") or "")):
                if _VERSION_VAR.match(var) and var not in defined:
                    yield file, (f"{file}: {kind[:-1]} {key}'s name uses ${{{var}}}, which neither .env.sample nor "
                                 f"abra.sh sets; add `{example.format(var=var)}` to {home}")


@rule("CCCI-L11", "warn", "secret and config names fit docker's 64 characters after the stack prefix")
def secret_names_fit(r: RecipeFiles) -> Problems:
    for kind in ("secrets", "configs"):
        for key, (file, spec) in r.top_level(kind).items():
            template = str(spec.get("name") or f"${{STACK_NAME}}_{key}")
            fits = longest_fitting_stack(functools.partial(_length_with_stack, r, template))
            if fits is not None and fits >= naming.MAX_STACK_NAME:
                continue
            what = f"{file}: {kind[:-1]} {key}'s docker name {template!r}"
            if fits is None or fits < 1:
                length = len(r.expand(template, {"STACK_NAME": "s"}))
                yield file, (f"{what} is {length} characters long even with a one-character domain, past docker's "
                             f"{DOCKER_NAME_LIMIT}, so docker refuses it for every app; "
                             f"shorten it by {length - DOCKER_NAME_LIMIT}"), "error"
                continue
            over = len(r.expand(template, {"STACK_NAME": "s" * naming.MAX_STACK_NAME})) - DOCKER_NAME_LIMIT
            yield file, (f"{what} breaks for domains longer than {fits} characters: the stack name is the "
                         f"domain with . as _ (up to {naming.MAX_STACK_NAME} characters) and docker refuses names "
                         f"past {DOCKER_NAME_LIMIT}; shorten it by {over} to fit every domain")


def _length_with_stack(r: RecipeFiles, template: str, stack: str) -> int:
    return len(r.expand(template, {"STACK_NAME": stack}))


def longest_fitting_stack(length_with: Callable[[str], int]) -> int | None:
    """The longest stack name (up to abra's cut) with which a name is within docker's limit, given
    the name's length for a stack name; None when even an empty stack name is too long."""
    fits = None
    for size in range(naming.MAX_STACK_NAME + 1):  # the length grows with the stack's: the last that fits
        if length_with("s" * size) <= DOCKER_NAME_LIMIT:
            fits = size
    return fits


@rule("CCCI-L12", "error", "files are UTF-8 text within cc-ci's input limits")
def within_limits(r: RecipeFiles) -> Problems:
    yield from sorted(r.refused.items())


@rule("CCCI-L13", "error", "every file a deploy reads is a regular file inside the recipe")
def files_inside_the_recipe(r: RecipeFiles) -> Problems:
    yield from sorted(r.outside.items())
    yield from r.host_files


@rule("CCCI-L14", "error", "every variable the compose chain uses is defined")
def variables_defined(r: RecipeFiles) -> Problems:
    if not r.whole_chain:
        return
    defined = set(r.env) | {m["key"] for m in _EXPORTED.finditer(r.abra_sh or "")} | set(HARNESS_VARIABLES)
    defined |= documented(r.env_sample)
    told = set(_unvendored(r))  # CCCI-L10 names these with their own fix
    for name, data in r.parsed.items():
        for used in used_variables(r.compose[name] or "", data, name):
            if used.name in defined or used.name in told:
                continue
            where = f"{name}:{used.line}" if used.line else name
            near = difflib.get_close_matches(used.name, sorted(defined - {"PATH", "HOME"}), n=1, cutoff=0.75)
            hint = f"did you mean {near[0]}? " if near else ""
            effect = ("docker refuses the deploy while it is unset" if used.required
                      else "docker interpolates it as an empty string")
            yield name, (f"{where}: ${{{used.name}}} is set by neither .env.sample, abra.sh nor the harness "
                         f"(which sets {HARNESS_VARIABLES[0]}), so {effect}; {hint}fix the name, or define it in "
                         f".env.sample (or give a default: ${{{used.name}:-value}})")


@rule("CCCI-L15", "error", "the app carries its version label coop-cloud.${STACK_NAME}.version")
def version_label(r: RecipeFiles) -> Problems:
    services = r.services()
    if not services or any(spec["deploy"]["labels"].get(VERSION_LABEL) for _f, spec in services.values()):
        return
    old = [(service, file) for service, (file, spec) in services.items() if OLD_VERSION_LABEL in spec["deploy"]["labels"]]
    for service, file in old:
        line = _line_of(r.compose.get(file) or "", OLD_VERSION_LABEL)
        yield file, (f"{file}{f':{line}' if line else ''}: service {service} labels its version the old way, "
                     f"{OLD_VERSION_LABEL}, which abra and cc-ci do not read (the app's version reads as unknown); "
                     f"rename it to {VERSION_LABEL}")
    if not old:
        file, where = (services["app"][0], "the app service's") if "app" in services else (next(iter(r.compose)), "a")
        yield file, (f"{file}: no service has the label {VERSION_LABEL}, which abra and cc-ci read the app's "
                     f"version from; add \"{VERSION_LABEL}=<semver>+<upstream>\" to {where} deploy: labels:")


@rule("CCCI-L16", "warn", "a release keeps every volume the previous release mounted")
def volumes_follow(r: RecipeFiles) -> Problems:
    before = r.previous
    if before is None or not before.services() or not r.services():
        return
    old, new = before.mounts(), r.mounts()
    mounted_now = {m.identity for m in new}
    at = {(m.service, m.target): m for m in new}
    first = next(iter(r.compose))
    for was in old:
        now = at.get((was.service, was.target))
        if now is not None and now.identity != was.identity:
            yield first, (f"{first}: service {was.service} mounts {was.target} from volume {now.volume}, where "
                          f"{before.ref} mounted volume {was.volume}: on upgrade the data in {was.volume} does not "
                          f"follow (docker makes {now.volume} empty); keep the volume's name, or move the data in "
                          f"a step the release note (release/<version>) tells operators to run")
        elif now is None and was.identity not in mounted_now:
            yield first, (f"{first}: volume {was.volume}, mounted by service {was.service} at {was.target} in "
                          f"{before.ref}, is mounted by no service now: its data is left behind on upgrade; "
                          "mount it again, or say in the release note (release/<version>) that it is dropped")


@rule("CCCI-L17", "warn", "a secret the head adds is named in a release note")
def new_secrets_noted(r: RecipeFiles) -> Problems:
    before = r.previous
    if before is None:
        return
    added = sorted(set(r.secret_names()) - set(before.secret_names()))
    notes = " ".join(r.notes.values()).lower()
    for secret in added:
        if secret.lower() in notes or f"secret_{secret}_version" in notes:
            continue
        version = r.env.get(f"SECRET_{secret.upper()}_VERSION", "v1")
        yield ".env.sample", (f".env.sample: the head adds secret {secret} (not in {before.ref}) and no release note "
                              f"added since says so: operators upgrading must generate it first; add release/<version> "
                              f"(or release/next) saying e.g. `abra app secret generate <domain> {secret} {version}`")


def _line_of(text: str, needle: str) -> int:
    return next((n for n, line in enumerate(text.splitlines(), 1) if needle in line), 0)


def _unvendored(r: RecipeFiles) -> Iterator[str]:
    """The `_VERSION` variables of secret and config names nothing sets (CCCI-L10's findings)."""
    defined = set(r.env) | {m["key"] for m in _EXPORTED.finditer(r.abra_sh or "")}
    for kind in ("secrets", "configs"):
        for _key, (_file, spec) in r.top_level(kind).items():
            yield from (v for v in _referenced(str(spec.get("name") or "")) if _VERSION_VAR.match(v) and v not in defined)


def _referenced(text: str) -> list[str]:
    return [m["braced"] or m["bare"] for m in _VAR.finditer(text)]


def _images(r: RecipeFiles) -> Iterator[tuple[str, str, str, str | None]]:
    """(service, file, image as it deploys with .env.sample's values, its tag or None)."""
    for service, (file, spec) in r.services().items():
        image = r.expand(str(spec.get("image") or "")).strip()
        if image:
            yield service, file, image, image_tag(image)


def image_tag(image: str) -> str | None:
    """`name:tag@digest` -> tag; None when the reference has no tag (a registry port is no tag)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else None
