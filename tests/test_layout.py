"""The import rules of docs/architecture.md, checked by walking every import of the bot's own modules."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "formatters")
MAX_LINES = 400

# What formatters may import of the bot: pure data modules, no I/O, no client.
FORMATTERS_MAY_IMPORT = frozenset(
    {
        "bot.access.policy",
        "bot.actions",
        "bot.audit",
        "bot.errors",
        "bot.gcore.errors",
        "bot.gcore.models",
        "bot.history",
        "bot.masking",
        "bot.slack.errors",
        "bot.watch.specs",
        "bot.watch.story",
        "bot.watch.subscriptions",
        "bot.watch.transitions",
    }
)
# Where the bot renders for delivery: alerts, the notices about paused channels, and the Home tab.
BOT_MAY_IMPORT_FORMATTERS = frozenset(
    {"bot.watch.home", "bot.watch.notifier", "bot.watch.placement", "bot.watch.pauses"}
)
# Each third-party client belongs to one package.
CLIENT_OWNERS = {
    "httpx": ("bot.gcore",),
    "sqlalchemy": ("bot.store",),
    "alembic": ("bot.store",),
    "slack_sdk": ("bot.slack",),
}


def modules() -> dict[str, Path]:
    """Every module of the bot's packages by dotted name (migrations' revision files excluded)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "versions" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


@functools.cache
def imports_of(path: Path) -> frozenset[str]:
    """The modules a file imports, ``from a import b`` counted as ``a.b`` when that is a module too (each file
    parsed once, for all the rules that read it)."""
    names: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return frozenset(names)


MODULES = modules()
OWN = set(MODULES)


def own_imports(name: str) -> set[str]:
    return {imported for imported in imports_of(MODULES[name]) if imported in OWN}


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("formatters")))
def test_formatters_import_only_formatters_and_pure_data(name: str) -> None:
    wrong = {
        i for i in own_imports(name) if not i.startswith("formatters") and i not in FORMATTERS_MAY_IMPORT
    }
    assert not wrong, f"{name} imports {sorted(wrong)}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("bot") and n != "bot.__main__"))
def test_bot_imports_no_handler_and_formatters_only_to_render_alerts(name: str) -> None:
    imported = own_imports(name)
    assert not {i for i in imported if i.startswith("handlers")}, f"{name} imports handlers"
    if name not in BOT_MAY_IMPORT_FORMATTERS:
        assert not {i for i in imported if i.startswith("formatters")}, f"{name} imports formatters"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("handlers.")))
def test_handlers_never_import_each_other(name: str) -> None:
    # handlers.errors is the one error path every listener module shares; it imports no listener module.
    others = {i for i in own_imports(name) if i.startswith("handlers") and i != "handlers.errors"}
    assert not others, f"{name} imports {sorted(others)}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_each_client_library_is_used_in_one_package(name: str) -> None:
    for library, owners in CLIENT_OWNERS.items():
        uses = any(i == library or i.startswith(f"{library}.") for i in imports_of(MODULES[name]))
        if uses:
            assert name.startswith(owners), f"{name} imports {library}, which belongs to {owners}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_over_400_lines(name: str) -> None:
    lines = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines"
