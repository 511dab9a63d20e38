"""DESIGN.md's rules of the house, checked on the source: `discord` is imported only in the cogs, the UI, the bot
class and the composition root; `comfy/` imports nothing else of the bot; `jobs/` knows nothing of Discord; all
SQL is in the store; the cogs and the UI build no job engine, store, pool or client (only `__main__.py` does), and
the cogs hold none: they ask the door, the read models and the controls of `jobs/`."""

from __future__ import annotations

import ast
import re
from pathlib import Path

BOT = Path(__file__).resolve().parent.parent / "bot"
DISCORD_ALLOWED = ("cogs/", "ui/", "bot.py", "process/relaying.py", "discord_internals.py", "__main__.py")
# discord.py's private API, reached only through bot/discord_internals.py (tests/test_discord_internals.py)
DISCORD_PRIVATE = re.compile(
    r"\._connection\b|(?<!internals)\.parsers\b|_get_or_create_unavailable_guild|Route\.BASE|DEFAULT_GATEWAY|get_bot_gateway"
    r"|warn_nacl|warn_dave|RawReactionActionEvent\(|discord\.Interaction\(|discord\.Member\("
)
SQL = re.compile(r"\b(SELECT\s.+\sFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+TABLE)\b")
BUILT_ONLY_IN_MAIN = {"JobEngine", "JobStore", "BackendPool", "ComfyClient", "ComfyBackend", "ComfyBot"}


def sources() -> dict[str, ast.Module]:
    return {p.relative_to(BOT).as_posix(): ast.parse(p.read_text(), str(p)) for p in sorted(BOT.rglob("*.py"))}


def imported(relative: str, tree: ast.Module) -> set[str]:
    """Every module a file imports, relative imports resolved to `bot.…`."""
    package = ["bot", *relative.split("/")[:-1]]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_discord_is_imported_only_where_the_design_allows() -> None:
    offenders = [
        name
        for name, tree in sources().items()
        if not name.startswith(DISCORD_ALLOWED) and any(m.split(".")[0] == "discord" for m in imported(name, tree))
    ]
    assert not offenders


def test_comfy_imports_nothing_else_of_the_bot() -> None:
    offenders = {
        name: sorted(m for m in imported(name, tree) if m.startswith("bot.") and not m.startswith("bot.comfy"))
        for name, tree in sources().items()
        if name.startswith("comfy/")
    }
    assert not {k: v for k, v in offenders.items() if v}


def test_sql_lives_only_in_the_store() -> None:
    offenders = [
        name
        for name, tree in sources().items()
        if not name.startswith("jobs/store/")
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.search(node.value)
    ]
    assert not offenders


def test_only_the_composition_root_builds_the_engine_store_pool_clients_and_bot() -> None:
    offenders = sorted(
        f"{name}: {node.func.id}"
        for name, tree in sources().items()
        if name != "__main__.py"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in BUILT_ONLY_IN_MAIN
    )
    assert not offenders


# what the cogs never reach: they ask the door (jobs/admission.py), the read models (jobs/views.py) and the
# controls (jobs/controls.py), which hold these
BEHIND_THE_DOMAIN = ("bot.jobs.store", "bot.comfy.pool", "bot.jobs.engine")


def test_cogs_import_no_store_pool_or_engine() -> None:
    offenders = sorted(
        f"{name}: {module}"
        for name, tree in sources().items()
        if name.startswith("cogs/")
        for module in imported(name, tree)
        if any(module == banned or module.startswith(banned + ".") for banned in BEHIND_THE_DOMAIN)
    )
    assert not offenders
    assert "cogs/imagine.py" in sources()  # the rule reads the cogs where they are


ROOT = BOT.parent


def imports_of(path: Path) -> set[str]:
    """The absolute modules a file outside `bot/` imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def test_tests_import_no_bench_and_benches_import_no_test_module() -> None:
    """The fakes and the harnesses (tests/fakes, tests/stack.py, tests/soak.py, ...) are what both import: a test
    never imports a bench, and a bench never a test module (`test_*.py`), nor does anything a bench imports."""
    test_module = re.compile(r"(^|\.)test_\w+$")
    for path in sorted((ROOT / "tests").rglob("*.py")):
        benches = {m for m in imports_of(path) if m == "bench" or m.startswith("bench.")}
        assert not benches, f"{path.relative_to(ROOT)} imports {sorted(benches)}"
        if not path.name.startswith("test_"):  # a helper a bench may import imports no test module either
            tests = {m for m in imports_of(path) if m.startswith("tests.") and test_module.search(m)}
            assert not tests, f"{path.relative_to(ROOT)} (a helper) imports the test module(s) {sorted(tests)}"
    for path in sorted((ROOT / "bench").rglob("*.py")):
        tests = {m for m in imports_of(path) if m.startswith("tests.") and test_module.search(m)}
        assert not tests, f"{path.relative_to(ROOT)} imports the test module(s) {sorted(tests)}"


def test_discord_private_api_is_reached_only_through_its_adapter() -> None:
    """In the modules that use discord.py, none of its private parts but through `bot/discord_internals.py`."""
    offenders = [
        f"{name}: {found.group(0)}"
        for name, tree in sources().items()
        if name != "discord_internals.py" and any(m.split(".")[0] == "discord" for m in imported(name, tree))
        for found in DISCORD_PRIVATE.finditer((BOT / name).read_text())
    ]
    assert not offenders


def test_the_top_of_bot_is_small_and_every_package_says_what_lives_in_it() -> None:
    """At most 6 modules at the top of `bot/`; every package's `__init__` has a docstring saying what it holds."""
    top = sorted(p.name for p in BOT.glob("*.py"))
    assert len(top) <= 6, top
    for init in sorted(BOT.rglob("__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert len(doc) >= 40, f"{init.relative_to(BOT.parent)} does not say what lives in its package"
