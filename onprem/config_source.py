"""Where settings come from: YAML text with line numbers, environment variables and `--set` flags.

Pure functions: each turns its input into a plain nested dict plus an *origin map* from a field path
(tuple of keys) to a human location ("onprem.yaml:12", "env ONPREM_NETWORK__WEB_PORT", "--set a.b=..."),
so that validation errors can name where a bad value came from. Precedence is applied by `merge`:
defaults < file < environment < flags.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from onprem.errors import ConfigError

Path = tuple[str | int, ...]
Origins = dict[Path, str]

ENV_PREFIX = "ONPREM_"
ENV_DELIMITER = "__"
# Variables that steer the CLI itself rather than naming a setting.
ENV_RESERVED = {"ONPREM_CONFIG", "ONPREM_STATE_DIR"}


def parse_yaml(text: str, filename: str) -> tuple[dict[str, Any], Origins]:
    """Parse a YAML document into a dict and the line of every key.

    Raises ConfigError for YAML syntax errors, duplicate keys, or a top level that is not a mapping.
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return {}, {}
        origins: Origins = {}
        _walk(node, (), filename, origins)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{filename}:{mark.line + 1}" if mark is not None else filename
        raise ConfigError(f"{where}: invalid YAML: {exc.problem}") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ConfigError(
            f"{filename}:1: the top level must be a mapping of sections (deployment:, client:, ...)"
        )
    return data, origins


def _walk(node: yaml.Node, path: Path, filename: str, origins: Origins) -> None:
    origins[path] = f"{filename}:{node.start_mark.line + 1}"
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                dotted = ".".join(str(p) for p in (*path, key))
                raise ConfigError(
                    f"{filename}:{line}: {dotted}: duplicate key (first set on line {seen[key]}); keep one"
                )
            seen[key] = line
            _walk(value_node, (*path, key), filename, origins)
            # A key's own line is the better place to point at than its value's.
            origins[(*path, key)] = f"{filename}:{line}"
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), filename, origins)


def _scalar(text: str) -> Any:
    """Read an override value as a YAML scalar, so `9090` is an int and `true` a bool."""
    try:
        return yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        return text


def from_env(environ: Mapping[str, str]) -> tuple[dict[str, Any], Origins]:
    """Settings overrides from `ONPREM_<SECTION>__<FIELD>=value` variables (names are case-insensitive)."""
    data: dict[str, Any] = {}
    origins: Origins = {}
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or name in ENV_RESERVED or ENV_DELIMITER not in name:
            continue
        path = tuple(part.lower() for part in name[len(ENV_PREFIX) :].split(ENV_DELIMITER))
        if any(not part for part in path):
            continue
        _assign(data, path, _scalar(environ[name]))
        origins[path] = f"environment variable {name}"
    return data, origins


def from_flags(assignments: list[str]) -> tuple[dict[str, Any], Origins]:
    """Settings overrides from `--set section.field=value` flags.

    Raises ConfigError for an assignment without `=` or with an empty path.
    """
    data: dict[str, Any] = {}
    origins: Origins = {}
    for item in assignments:
        dotted, sep, value = item.partition("=")
        path = tuple(part.strip() for part in dotted.split("."))
        if not sep or any(not part for part in path):
            raise ConfigError(
                f"--set {item!r}: expected section.field=value, e.g. --set network.web_port=9191"
            )
        _assign(data, path, _scalar(value))
        origins[path] = f"--set {dotted}"
    return data, origins


def _assign(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    cursor = data
    for part in path[:-1]:
        nxt = cursor.setdefault(part, {})
        if not isinstance(nxt, dict):
            nxt = cursor[part] = {}
        cursor = nxt
    cursor[path[-1]] = value


def merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge `override` into a copy of `base`: mappings merge, anything else replaces."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def locate(origins: Origins, path: Path, default: str) -> str:
    """The origin of the longest prefix of `path` that has one, else `default`."""
    for end in range(len(path), -1, -1):
        where = origins.get(path[:end])
        if where is not None:
            return where
    return default


def describe_error(error: Mapping[str, Any]) -> str:
    """The message of one pydantic error, worded for the operator."""
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key; remove it or check its spelling"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def valid_keys(root: Any, path: Path) -> str:
    """The keys a pydantic model `root` accepts where `path` ends (for "unknown key" errors)."""
    model: Any = root
    for part in path[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        if field is None:
            return ""
        annotation = field.annotation
        inner = getattr(annotation, "__args__", (annotation,))
        model = next((arg for arg in inner if hasattr(arg, "model_fields")), None)
        if model is None:
            return ""
    return ", ".join(model.model_fields) if hasattr(model, "model_fields") else ""
