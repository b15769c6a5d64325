"""node/_core.pyi describes node._core exactly: same names, same parameters.

The stub is what mypy and editors believe; the compiled module is what
runs. pyo3 records each function's parameters in ``__text_signature__``,
so the two can be compared without importing anything but the module.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import node._core as core

STUB_PATH = Path(core.__file__).with_name("_core.pyi")
STUB = ast.parse(STUB_PATH.read_text(encoding="utf-8"))


def stub_functions() -> dict[str, ast.FunctionDef]:
    return {node.name: node for node in STUB.body if isinstance(node, ast.FunctionDef)}


def stub_constants() -> set[str]:
    return {
        node.target.id
        for node in STUB.body
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
    }


def public(names: set[str]) -> set[str]:
    return {name for name in names if not name.startswith("_")}


def test_stub_and_module_define_the_same_public_names() -> None:
    in_stub = public(set(stub_functions()) | stub_constants())
    at_runtime = public(set(dir(core)))
    assert in_stub == at_runtime


def test_constants_are_ints() -> None:
    for name in public(stub_constants()):
        assert isinstance(getattr(core, name), int), name


@pytest.mark.parametrize("name", sorted(public(set(stub_functions()))))
def test_parameters_match_the_runtime_signature(name: str) -> None:
    function = getattr(core, name)
    assert function.__text_signature__, f"{name} has no text signature"
    runtime = [
        (parameter.name, parameter.kind)
        for parameter in inspect.signature(function).parameters.values()
    ]
    stub_args = stub_functions()[name].args
    stub = [(arg.arg, inspect.Parameter.POSITIONAL_OR_KEYWORD) for arg in stub_args.args]
    assert not stub_args.posonlyargs and not stub_args.kwonlyargs
    assert stub_args.vararg is None and stub_args.kwarg is None
    assert stub == runtime


@pytest.mark.parametrize("name", sorted(public(set(stub_functions()))))
def test_every_function_is_documented_in_both(name: str) -> None:
    assert ast.get_docstring(stub_functions()[name])
    assert getattr(core, name).__doc__
