"""`onprem secrets rotate FIELD`: change a secret for real in the running deployment, or refuse saying why.

The new value is the source's (file, env, command), or a freshly generated one for `source: generate`.
The replaced value is kept (0600, `<state>/secrets-previous/NAME`) until the change is gated healthy;
when a step fails, every step done is undone in reverse, the services are recreated with the previous
value and gated, and the error says what was put back (or, if that failed too, where the previous value
is). Per secret:

    db_password       ALTER USER / ALTER ROLE in the bundled database first, then store, then recreate
                      everything that mounts WA_DB_PASSWORD (db included, so its file is current), gate
    api_key           store (and apikey.header), recreate what mounts them (waweb, exporter), gate
    admin_password    change it through the client's API (as admin, with the old one), check the new
                      login, store; recreate what mounts it, if anything (an exporter logging in)
    relay_path_token  store, recreate the relay, gate, then move the client's webhooks URL to the new
                      path if it pointed at the relay
    other relay and extra secrets: store, recreate what mounts them (a bundled Redis reads its password at
                      start), gate. backup_password: store; older archives keep the old one, kept for
                      good as BACKUP_PASSWORD.<time> (0600).

Compose mounts file secrets as bind mounts of the file the container started with, and the store
replaces files by a rename, so the services are recreated (`up --force-recreate`), not restarted.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from onprem.bundle import COMPOSE_FILE
from onprem.deployment import Deployment
from onprem.errors import (
    ApiError,
    ConfigError,
    EngineError,
    GateError,
    OnpremError,
    SecretError,
    StateError,
)
from onprem.render import expected_services, profiles
from onprem.secrets import APIKEY_HEADER, BACKUP_SPEC, SecretEntry, apikey_header, describe_source, entry
from onprem.sidecars import bundled_redis
from onprem.workflows import dbpassword
from onprem.workflows.apply import mounting
from onprem.workflows.bootstrap import DEFAULT_ADMIN
from onprem.workflows.certs import RELAY_CERT_SECRET, RELAY_KEY_SECRET
from onprem.workflows.deploy import record_running
from onprem.workflows.gate import first_problem, gate
from onprem.workflows.webhooks import relay_url

ALREADY_CHANGED = ("db_password", "relay_redis_password")
"""The secrets that may live outside the stack (your own database or Redis): `--already-changed`."""


class Rotation:
    """The steps of one rotation and how to undo them; the stored values it replaces, kept aside."""

    def __init__(self, deployment: Deployment, found: SecretEntry, values: dict[str, str]) -> None:
        self.deployment = deployment
        self.found = found
        self.values = values
        store = deployment.secrets
        self.old = {name: store.read(name) for name in values}
        self.done: list[str] = []
        self.recreated: list[str] = []
        self._undo: list[tuple[str, Callable[[], object]]] = []

    @property
    def new(self) -> str:
        return self.values[self.found.name]

    @property
    def previous(self) -> str:
        value = self.old[self.found.name]
        assert value is not None, "a rotation replaces a stored value"
        return value

    def step(
        self, label: str, action: Callable[[], object], undo: Callable[[], object] | None = None
    ) -> None:
        """Run `action` and remember `undo` for a failure later on."""
        self.deployment.progress(f"{self.found.field}: {label}")
        action()
        self.done.append(label)
        if undo is not None:
            self._undo.append((label, undo))

    def keep(self) -> list[Path]:
        """Keep every value this rotation replaces. Raises StateError (nothing kept then)."""
        kept: list[Path] = []
        try:
            for name in self.values:
                path = self.deployment.secrets.keep_previous(name)
                if path is not None:
                    kept.append(path)
        except StateError:
            for path in kept:
                path.unlink(missing_ok=True)
            raise
        return kept

    def store(self) -> None:
        store = self.deployment.secrets

        def write(values: dict[str, str | None]) -> None:
            for name, value in values.items():
                if value is None:
                    store.remove(name)
                else:
                    store.write(name, value)

        self.step("stored", lambda: write(dict(self.values)), lambda: write(self.old))

    def api_key(self, *, rotated: bool) -> str:
        key = self.values.get("WA_API_KEY") if rotated else self.old.get("WA_API_KEY")
        return key or self.deployment.secrets.read("WA_API_KEY") or ""

    def recreate_and_gate(self, names: list[str]) -> None:
        """Recreate what mounts `names` (from the deployed bundle) and gate the whole stack."""
        services = mounting(_compose_text(self.deployment), [], names)
        if not services:
            return
        self.recreated = services
        self.step(f"recreated {', '.join(services)}", lambda: _recreate(self.deployment, services))
        self.step("healthy", lambda: _gate(self.deployment, self.api_key(rotated=True)))

    def finish(self) -> None:
        for name in self.values:
            self.deployment.secrets.drop_previous(name)

    def fail(self, cause: OnpremError) -> OnpremError:
        """Undo every step done (reverse order), recreate and gate with the previous value; the error to
        raise, saying what happened and in what state things are."""
        put_back: list[str] = []
        problems: list[str] = []
        for label, undo in reversed(self._undo):
            try:
                undo()
                put_back.append(f"undone: {label}")
            except OnpremError as exc:
                problems.append(f"could not undo '{label}': {exc}")
        if self.recreated and not problems:
            try:
                _recreate(self.deployment, self.recreated)
                _gate(self.deployment, self.api_key(rotated=False))
                put_back.append(f"recreated {', '.join(self.recreated)} with the previous value: healthy")
            except OnpremError as exc:
                problems.append(f"with the previous value, the deployment is not healthy either: {exc}")
        head = f"rotating secrets.{self.found.field} failed: {cause}"
        if not problems:
            self.finish()
            return _same_kind(cause, head + "\nPut back: " + "; ".join(put_back or ["nothing had changed"]))
        store = self.deployment.secrets
        kept = ", ".join(str(store.previous_path(n)) for n in self.values if self.old[n] is not None)
        holds = "previous" if all(store.read(n) == self.old[n] for n in self.values) else "new"
        state = (
            f"\n{'; '.join(put_back + problems)}.\nThe previous value is kept in {kept} (0600); the store "
            f"holds the {holds} value. Check `onprem status`, then put right what is listed above and "
            "delete the kept file"
        )
        return _same_kind(cause, head + state)


def _compose_text(deployment: Deployment) -> str:
    try:
        return (deployment.state.bundle / COMPOSE_FILE).read_text(encoding="utf-8")
    except OSError:
        raise StateError(
            f"no deployed bundle in {deployment.state.bundle}; deploy first (`onprem deploy`)"
        ) from None


def _recreate(deployment: Deployment, services: list[str]) -> None:
    args = ["up", "--detach", "--no-deps", "--force-recreate", *services]
    deployment.engine.compose(
        deployment.state.bundle, deployment.project, args, profiles=profiles(deployment.settings)
    )


def _gate(deployment: Deployment, api_key: str) -> None:
    gate(deployment, expected_services(deployment.settings), api_key=api_key, crash_loop_fails=True)


def _same_kind(cause: OnpremError, message: str) -> OnpremError:
    """An error of the cause's class (so its exit code) with `message`."""
    if isinstance(cause, GateError):
        return GateError(message, service=cause.service, logs=cause.logs)
    if isinstance(cause, ApiError):
        return ApiError(message, status=cause.status, code=cause.code, endpoint=cause.endpoint)
    for kind in (ConfigError, SecretError, EngineError, StateError):
        if isinstance(cause, kind):
            return kind(message)
    return OnpremError(message)


def _running(deployment: Deployment, field: str) -> bool:
    """Whether the deployment exists on its host (False: never deployed, no container, no volume).

    Raises OnpremError when it exists but is not healthy: a rotation changes a running deployment."""
    engine = deployment.engine
    containers = engine.containers(deployment.project)
    if not containers and not engine.volumes(deployment.project):
        return False
    problem = first_problem(expected_services(deployment.settings), containers)
    if problem is not None:
        service, why, _ = problem
        raise OnpremError(
            f"deployment {deployment.project} is not healthy (service {service} {why}); nothing was changed. "
            f"A rotation changes secrets.{field} in the running deployment: bring it back first "
            "(`onprem deploy`, with the previous secret source while deploy refuses the new one), then "
            "rotate again"
        )
    return True


def _preflight(deployment: Deployment, found: SecretEntry, already_changed: bool) -> None:
    """Refuse, before anything is kept or changed, what this tool cannot change itself."""
    settings = deployment.settings
    field = found.field
    if already_changed and field not in ALREADY_CHANGED:
        raise ConfigError(f"--already-changed applies to {' and '.join(ALREADY_CHANGED)} only, not {field}")
    if found.name in (RELAY_CERT_SECRET, RELAY_KEY_SECRET):
        raise ConfigError(f"secrets.{field} is the relay's certificate: renew it with `onprem certs issue`")
    external = {
        "db_password": settings.db.external is not None,
        "relay_redis_password": settings.relay.store.backend == "redis" and not bundled_redis(settings),
    }.get(field, False)
    if not external or already_changed:
        return
    what = "database (db.external)" if field == "db_password" else "Redis (relay.store.redis.url)"
    if found.source.source == "generate":
        raise ConfigError(
            f"{found.where}: secrets.{field}: the {what} is yours, so onprem cannot change its password. Set "
            f"the new password there, give it to onprem as secrets.{field} (source: file, env or command), "
            f"then run `onprem secrets rotate {field} --already-changed`"
        )
    raise ConfigError(
        f"{found.where}: secrets.{field}: the {what} is yours, so onprem cannot change its password: set "
        f"it there to the value of {describe_source(found.source)} first, then run "
        f"`onprem secrets rotate {field} --already-changed` (it stores it and recreates the services)"
    )


def rotate(deployment: Deployment, field: str, *, already_changed: bool = False) -> dict[str, Any]:
    """Rotate `secrets.<field>` (see the module docstring). Returns field, name, source, status
    (`rotated`, `stored`, `unchanged`), the steps done and notes; never a value.

    Raises ConfigError (unknown field, a value the client refuses, a secret onprem cannot change),
    SecretError, OnpremError (the deployment is not healthy: nothing changed), and after a failed step
    the cause's class with what was put back (GateError with the failing service's logs)."""
    found = entry(deployment.loaded, field)
    _preflight(deployment, found, already_changed)
    store = deployment.secrets
    new = store.candidate(found)
    old = store.read(found.name)
    result: dict[str, Any] = {
        "field": found.field,
        "name": found.name,
        "source": describe_source(found.source),
        "notes": [],
    }
    if old == new:
        return {**result, "status": "unchanged", "steps": []}
    if found.spec is BACKUP_SPEC:
        return {**result, **_backup(deployment, found, new, old)}
    if old is not None:
        deployment.engine.check()
    values = {found.name: new}
    if found.name == "WA_API_KEY":
        values[APIKEY_HEADER] = apikey_header(new)
    for name in values:
        store.check_no_previous(name)
    rotation = Rotation(deployment, found, values)
    if old is None or not _running(deployment, found.field):
        rotation.store()
        why = "nothing stored it before" if old is None else "the deployment was never started"
        result["notes"].append(f"{why}: nothing else to change")
        return {**result, "status": "stored", "steps": rotation.done}
    kept = rotation.keep()
    try:
        notes = PLANS.get(found.field, _plain)(rotation, already_changed)
    except OnpremError as exc:
        raise rotation.fail(exc) from exc
    rotation.finish()
    notes.append(f"the previous value was kept in {', '.join(map(str, kept))} until now, then removed")
    release = record_running(deployment, "secrets rotate")
    if release is not None:
        notes.append(f"release {release} records the new value's digest")
    return {**result, "status": "rotated", "steps": rotation.done, "notes": notes}


def _db_password(rotation: Rotation, already_changed: bool) -> list[str]:
    deployment = rotation.deployment
    settings = deployment.settings
    kind, user = settings.db.kind, settings.db.username
    engine, project = deployment.engine, deployment.project
    old, new = rotation.previous, rotation.new
    if settings.db.external is None and not already_changed:
        rotation.step(
            "changed in the database",
            lambda: dbpassword.change_password(engine, project, kind, user, current=old, new=new),
            lambda: dbpassword.change_password(engine, project, kind, user, current=new, new=old),
        )
        rotation.step(
            "the new password logs in", lambda: dbpassword.check_login(engine, project, kind, user, new)
        )
    rotation.store()
    rotation.recreate_and_gate(list(rotation.values))
    return []


def _admin_password(rotation: Rotation, _already_changed: bool) -> list[str]:
    deployment = rotation.deployment
    key = rotation.api_key(rotated=False)
    old, new = rotation.previous, rotation.new
    admin = DEFAULT_ADMIN[0]
    rotation.step(
        "changed in the client",
        lambda: deployment.api_with(key, old).update_user(admin, new),
        lambda: deployment.api_with(key, new).update_user(admin, old),
    )
    rotation.step("the new password logs in", lambda: deployment.api_with(key, new).login(admin, new))
    rotation.store()
    rotation.recreate_and_gate(list(rotation.values))
    return []


def _relay_path_token(rotation: Rotation, _already_changed: bool) -> list[str]:
    deployment = rotation.deployment
    old_url = relay_url(rotation.deployment.settings, rotation.previous)
    new_url = relay_url(rotation.deployment.settings, rotation.new)
    api = deployment.api()
    webhooks = api.get_application_settings().get("webhooks")
    current = webhooks.get("url") if isinstance(webhooks, dict) else None
    rotation.store()
    rotation.recreate_and_gate(list(rotation.values))
    if current != old_url:
        return ["the client's webhooks URL does not point at the relay: left as it is"]
    rotation.step(
        "the client's webhooks URL points at the new path",
        lambda: api.patch_application_settings({"webhooks": {"url": new_url}}),
        lambda: api.patch_application_settings({"webhooks": {"url": old_url}}),
    )
    return []


def _plain(rotation: Rotation, _already_changed: bool) -> list[str]:
    rotation.store()
    rotation.recreate_and_gate(list(rotation.values))
    if not rotation.recreated:
        return ["no service mounts it: stored only"]
    return []


PLANS: dict[str, Callable[[Rotation, bool], list[str]]] = {
    "db_password": _db_password,
    "admin_password": _admin_password,
    "relay_path_token": _relay_path_token,
}


def _backup(deployment: Deployment, found: SecretEntry, new: str, old: str | None) -> dict[str, Any]:
    store = deployment.secrets
    archived = store.archive(found.name, deployment.now()) if old is not None else None
    store.write(found.name, new)
    notes = ["new archives are encrypted with the new password"]
    if archived is not None:
        notes.append(f"archives made before keep the old password: it is kept for good in {archived} (0600)")
    return {"status": "rotated", "steps": ["stored"], "notes": notes}
