"""Policies from outside the repository: plugin files, modules and entry points.

A researcher keeps a policy in a file of their own (a ``@register`` class,
as ``node/scheduling/policy.py`` shows) and names it in the node config
(``[scheduling] policy_module``) or on the command line
(``--policy-module``); ``load_policy_modules`` imports each named file or
module, which runs its ``@register`` decorators. An installed package
registers policies through the ``ordinet.policies`` entry-point group::

    [project.entry-points."ordinet.policies"]
    cheapest = "my_package.policies"

``ensure_entry_point_policies`` loads that group once. A plugin error in a
file the user named is theirs to fix, so it stops start-up with a
ConfigError naming the file; a broken installed package only warns (it is
listed by ``entry_point_errors``), so one bad package cannot stop a node.

Rules: a plugin must register at least one policy, and may not take a
name that is already registered (a builtin or another plugin): the
original stays registered.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TypeGuard

from node.errors import ConfigError
from node.scheduling import policy as policy_registry

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "ordinet.policies"

# What each loaded spec registered, so naming a plugin twice (config and
# command line) is not mistaken for a plugin that registers nothing.
_LOADED: dict[str, tuple[str, ...]] = {}
_entry_points_loaded = False
_ENTRY_POINT_ERRORS: list[str] = []


def load_policy_modules(
    specs: str | Sequence[str] | None, *, base_dir: str | Path | None = None
) -> list[str]:
    """Import each policy plugin ``specs`` names; return the policy names they added.

    A spec is a path to a ``.py`` file (relative paths are resolved against
    ``base_dir``, else the working directory) or an importable module name.
    Errors are ConfigError: ``policy_module_missing`` (no such file),
    ``policy_module_not_found`` (no such module), ``policy_module_syntax``,
    ``policy_module_import`` (the plugin raised), ``policy_module_empty``
    (registers no policy) and ``policy_name_clash``.
    """
    if specs is None:
        return []
    if isinstance(specs, str):
        specs = [specs]
    added: list[str] = []
    for spec in specs:
        if not isinstance(spec, str) or not spec.strip():
            raise ConfigError(
                f"policy_module must be a file path or module name, not {spec!r}",
                code="policy_module_invalid",
            )
        added.extend(_load_one(spec.strip(), base_dir))
    return added


def ensure_entry_point_policies(*, reload: bool = False) -> list[str]:
    """Load the ``ordinet.policies`` entry points once; return the names added.

    Each entry point names a module (importing it registers its policies) or
    a Policy subclass (registered here). A broken one is logged as a warning
    and recorded in ``entry_point_errors()``; it never raises.
    """
    global _entry_points_loaded
    if _entry_points_loaded and not reload:
        return []
    _entry_points_loaded = True
    _ENTRY_POINT_ERRORS.clear()
    added: list[str] = []
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        where = f"entry point {entry_point.name} = {entry_point.value!r}"
        try:
            added.extend(_registering(where, entry_point.load))
        except Exception as exc:  # an installed package must never stop the node
            message = f"{where}: {exc}"
            log.warning("scheduling policy plugin skipped: %s", message)
            _ENTRY_POINT_ERRORS.append(message)
    return added


def entry_point_errors() -> list[str]:
    """Why each broken ``ordinet.policies`` entry point was skipped."""
    return list(_ENTRY_POINT_ERRORS)


def _load_one(spec: str, base_dir: str | Path | None) -> tuple[str, ...]:
    if is_policy_file(spec):
        path = Path(spec).expanduser()
        if not path.is_absolute():
            path = Path(base_dir or Path.cwd()) / path
        path = path.resolve()
        key = str(path)
        if key in _LOADED:
            return _LOADED[key]
        if not path.is_file():
            raise ConfigError(f"policy module {path}: no such file", code="policy_module_missing")
        names = _registering(str(path), lambda: _import_file(path))
    else:
        key = spec
        if key in _LOADED:
            return _LOADED[key]
        names = _registering(spec, lambda: _import_module(spec))
    if not names:
        raise ConfigError(
            f"policy module {key} registers no scheduling policy (use @register)",
            code="policy_module_empty",
        )
    _LOADED[key] = names
    return names


def is_policy_file(spec: str) -> bool:
    """A spec names a file (else a module) when it ends in .py or has a slash."""
    return spec.endswith(".py") or "/" in spec or "\\" in spec


def _registering(where: str, load: Callable[[], object]) -> tuple[str, ...]:
    """Run ``load``; return the policy names it registered.

    On any failure, a name clash included, the registry is left as it was.
    """
    policy_registry.policy_names()  # builtins first, so a clash with one is seen
    registry = policy_registry._REGISTRY
    before = dict(registry)
    try:
        with _translated_errors(where):
            loaded = load()
            if _unregistered_policy_class(loaded, registry):
                policy_registry.register(loaded)
        clashes = sorted(n for n, f in before.items() if registry.get(n) is not f)
        if clashes:
            raise ConfigError(
                f"policy module {where}: policy name(s) {', '.join(clashes)} already "
                "registered (rename the plugin's policy)",
                code="policy_name_clash",
            )
    except BaseException:
        registry.clear()
        registry.update(before)
        raise
    return tuple(sorted(set(registry) - set(before)))


def _unregistered_policy_class(
    loaded: object, registry: dict[str, Callable[..., policy_registry.Policy]]
) -> TypeGuard[type[policy_registry.Policy]]:
    # An entry point may name the class itself rather than a module.
    return (
        isinstance(loaded, type)
        and issubclass(loaded, policy_registry.Policy)
        and registry.get(loaded.name) is not loaded
    )


@contextmanager
def _translated_errors(where: str) -> Iterator[None]:
    try:
        yield
    except ConfigError:
        raise
    except SyntaxError as exc:
        raise ConfigError(
            f"policy module {where}: syntax error at line {exc.lineno}: {exc.msg}",
            code="policy_module_syntax",
        ) from exc
    except Exception as exc:
        raise ConfigError(
            f"policy module {where}: import failed: {type(exc).__name__}: {exc}",
            code="policy_module_import",
        ) from exc


def _import_file(path: Path) -> ModuleType:
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    module_name = f"ordinet_policy_plugin_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(
            f"policy module {path}: not a Python source file", code="policy_module_import"
        )
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look the module up
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def _import_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
            raise ConfigError(
                f"policy module {name}: no such file or importable module",
                code="policy_module_not_found",
            ) from exc
        raise
