"""The private members of Faust and aiokafka that stream.transport depends on still exist.

pyproject.toml pins faust-streaming and aiokafka because ``stream/transport.py`` overrides
and reads private members of both. Its :data:`stream.transport.PRIVATE_MEMBERS` lists each
one; these tests fail, naming the member, when an installed version no longer has it or
has changed its parameters — run them before moving a pin. They also check that the list
is complete: every ``x._name`` in stream/transport.py and stream/store.py is one of ours or
listed, and the listed ones are reached only through the accessor functions.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
import tomllib
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from types import ModuleType

import pytest

from stream import store, transport
from stream.transport import PRIVATE_MEMBERS, PrivateMember, parameters

ROOT = Path(__file__).resolve().parents[2]
LIBRARIES = ("faust", "mode", "aiokafka")
CHECKED_MODULES = (transport, store)


def member_id(member: PrivateMember) -> str:
    return f"{member.owner.__module__}.{member.owner.__qualname__}.{member.name}"


def library_classes(owner: type) -> list[type]:
    return [cls for cls in owner.__mro__ if cls.__module__.split(".")[0] in LIBRARIES]


def class_tree(cls: type) -> ast.ClassDef:
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    node = tree.body[0]
    assert isinstance(node, ast.ClassDef)
    return node


def self_attributes(node: ast.AST) -> Iterator[tuple[str, ast.expr_context]]:
    """``(name, context)`` of every ``self.name`` in ``node``."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) and sub.value.id == "self":
            yield sub.attr, sub.ctx


def defines_attribute(cls: type, name: str) -> bool:
    """Whether ``cls``'s own source sets ``self.name`` or declares ``name`` in its body."""
    node = class_tree(cls)
    for statement in node.body:
        if (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and statement.target.id == name
        ):
            return True
        if isinstance(statement, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == name for target in statement.targets
        ):
            return True
    return any(attr == name and isinstance(ctx, ast.Store) for attr, ctx in self_attributes(node))


METHODS = [member for member in PRIVATE_MEMBERS if member.use != "attribute"]
ATTRIBUTES = [member for member in PRIVATE_MEMBERS if member.use == "attribute"]


@pytest.mark.parametrize("member", METHODS, ids=member_id)
def test_a_private_method_we_override_or_call_keeps_its_parameters(member: PrivateMember) -> None:
    function = getattr(member.owner, member.name, None)
    assert callable(function), f"{member_id(member)} no longer exists (stream.transport uses it)"
    assert parameters(function) == member.signature, (
        f"{member_id(member)} now takes {parameters(function)}, stream.transport was written "
        f"for {member.signature}"
    )


@pytest.mark.parametrize("member", ATTRIBUTES, ids=member_id)
def test_a_private_attribute_we_touch_is_still_set_by_the_library(member: PrivateMember) -> None:
    assert any(defines_attribute(cls, member.name) for cls in library_classes(member.owner)), (
        f"{member_id(member)} is no longer set by {member.owner.__qualname__} or its bases "
        "(stream.transport reads or writes it)"
    )
    if member.read_by is not None:
        reader = getattr(member.owner, member.read_by)
        tree = ast.parse(textwrap.dedent(inspect.getsource(reader)))
        reads = {attr for attr, ctx in self_attributes(tree) if isinstance(ctx, ast.Load)}
        assert member.name in reads, (
            f"{member.owner.__qualname__}.{member.read_by} no longer reads self.{member.name} "
            "(stream.transport sets it before that)"
        )


# -- the list is complete ----------------------------------------------------------------------


def our_classes() -> list[type]:
    return [
        value
        for module in CHECKED_MODULES
        for value in vars(module).values()
        if inspect.isclass(value) and value.__module__ == module.__name__
    ]


def own_names() -> set[str]:
    """Private names our own classes define (methods, class attributes, ``self._x =``)."""
    names: set[str] = set()
    for cls in our_classes():
        names.update(vars(cls))
        names.update(attr for attr, ctx in self_attributes(class_tree(cls)) if isinstance(ctx, ast.Store))
    return {name for name in names if is_private(name)}


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


LISTED = {member.name for member in PRIVATE_MEMBERS}
OVERRIDES = {member.name for member in PRIVATE_MEMBERS if member.use == "override"}


def private_accesses(module: ModuleType) -> Iterator[tuple[str, int, str | None]]:
    """``(name, line, enclosing top-level function or None)`` of every ``x._name``."""
    tree = ast.parse(inspect.getsource(module))
    for statement in tree.body:
        scope = statement.name if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)) else None
        for node in ast.walk(statement):
            if isinstance(node, ast.Attribute) and is_private(node.attr):
                yield node.attr, node.lineno, scope


@pytest.mark.parametrize("module", CHECKED_MODULES, ids=lambda module: module.__name__)
def test_every_private_name_used_is_ours_or_listed(module: ModuleType) -> None:
    ours = own_names() - LISTED
    unlisted = sorted(
        {f"{name} (line {line})" for name, line, _ in private_accesses(module) if name not in ours | LISTED}
    )
    assert not unlisted, f"private members used but not in stream.transport.PRIVATE_MEMBERS: {unlisted}"


def test_listed_private_state_is_reached_only_through_the_accessors() -> None:
    accessors = {
        name
        for name, value in vars(transport).items()
        if inspect.isfunction(value) and value.__module__ == transport.__name__
    }
    elsewhere = sorted(
        f"{name} (line {line})"
        for name, line, scope in private_accesses(transport)
        if name in LISTED - OVERRIDES and scope not in accessors
    )
    assert not elsewhere, f"listed private members used outside the accessor functions: {elsewhere}"


def test_every_private_method_we_override_is_listed_and_every_listed_override_is_ours() -> None:
    overridden = {
        name
        for cls in our_classes()
        for name, value in vars(cls).items()
        if is_private(name)
        and inspect.isfunction(value)
        and any(name in vars(base) for base in cls.__mro__[1:])
    }
    assert overridden == OVERRIDES


def test_the_pinned_versions_are_the_installed_ones() -> None:
    # The signatures above were recorded from these versions; move a pin only after
    # this module passes against the new version.
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = dict(re.findall(r"^(faust-streaming|aiokafka)==([\w.]+)$", "\n".join(dependencies), re.M))
    assert pins == {
        "faust-streaming": metadata.version("faust-streaming"),
        "aiokafka": metadata.version("aiokafka"),
    }
