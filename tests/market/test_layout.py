"""Every domain folder of ``market/`` has the same rooms (README, "Layout"): its HTTP API in
``controllers.py`` or ``<topic>_controllers.py``, its rules and SQL in its other modules, its
pages in ``market/web/``, which reads and writes through the domains' services and holds no SQL.
"""

import ast
import typing
from pathlib import Path

import msgspec
from litestar import Litestar

ROOT = Path(__file__).parent.parent.parent
MARKET = ROOT / "market"
ROUTE_DECORATORS = {"get", "post", "put", "patch", "delete", "route", "websocket"}
#: What a module holding SQL imports; pages call services instead.
DATABASE_MODULES = {"market.db", "market.tables", "market.pg_engine", "market.sqlite_pool", "asyncpg",
                    "sqlite3", "piccolo"}


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def _serves_routes(tree: ast.Module) -> bool:
    """Does the module define a Litestar controller or a route handler (decorated, or made by
    calling ``get(…)`` and the like, as the exports' API is)? Only Litestar's ``get`` counts: a
    module may have a ``get`` of its own."""
    handlers = {
        alias.asname or alias.name for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "litestar"
        for alias in node.names if alias.name in ROUTE_DECORATORS
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and any(
            isinstance(base, ast.Name) and base.id == "Controller" for base in node.bases
        ):
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and (
            node.func.id in handlers
        ):
            return True
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(
            isinstance(decorator, ast.Name) and decorator.id in handlers
            for decorator in node.decorator_list
        ):
            return True
    return False


def _domain_modules() -> list[Path]:
    return [
        path for path in sorted(MARKET.glob("*/*.py"))
        if path.parent.name not in {"web", "piccolo_migrations", "__pycache__"}
    ]


def test_a_domain_s_api_lives_in_its_controllers_files() -> None:
    misplaced = []
    for path in _domain_modules():
        name = str(path.relative_to(ROOT))
        if _serves_routes(_tree(path)) and not (
            path.name == "controllers.py" or path.name.endswith("_controllers.py")
        ):
            misplaced.append(name)
    assert not misplaced, f"routes outside a controllers file: {misplaced}"


def test_controllers_files_serve_routes() -> None:
    named_but_empty = [
        str(path.relative_to(ROOT)) for path in _domain_modules()
        if path.name.endswith("controllers.py") and not _serves_routes(_tree(path))
    ]
    assert not named_but_empty, f"controllers files that serve no route: {named_but_empty}"


def test_the_pages_hold_no_sql() -> None:
    reaching = {}
    for path in sorted((MARKET / "web").glob("*.py")):
        imported = set()
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
        found = {
            module for module in imported
            if any(module == db or module.startswith(db + ".") for db in DATABASE_MODULES)
        }
        if found:
            reaching[path.name] = sorted(found)
    assert not reaching, f"pages that reach the database themselves: {reaching}"


#: The domain packages from the bottom up: a package imports those below it. ``web`` is the top:
#: no domain imports its pages.
LAYERS = ("auth", "community", "people", "cards", "points", "activities", "privacy", "shop",
          "help_requests", "reports", "subdistricts", "backups", "web")
#: Imports that run upwards, each a cycle to take apart: none now. A new one fails the test; one
#: taken apart must leave this list.
KNOWN_UPWARD: dict[tuple[str, str], str] = {}


def _package_imports() -> set[tuple[str, str]]:
    """(importer, imported) for every import of one ``market`` package by another."""
    packages = {  # market/web is a namespace package: no __init__.py
        path.name for path in MARKET.iterdir()
        if path.is_dir() and any(path.glob("*.py")) and path.name != "piccolo_migrations"
    }
    edges = set()
    for path in MARKET.glob("*/**/*.py"):
        importer = path.relative_to(MARKET).parts[0]
        if importer not in packages or importer == "piccolo_migrations":
            continue
        for node in ast.walk(_tree(path)):
            names = [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level \
                else [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                parts = name.split(".")
                if parts[0] == "market" and len(parts) > 1 and parts[1] in packages - {importer}:
                    edges.add((importer, parts[1]))
    return edges


def test_imports_between_domains_run_one_way() -> None:
    edges = _package_imports()
    placed = {importer for importer, _ in edges} | {imported for _, imported in edges}
    assert placed <= set(LAYERS), f"place these packages in LAYERS: {sorted(placed - set(LAYERS))}"
    level = {name: position for position, name in enumerate(LAYERS)}
    upward = {(a, b) for a, b in edges if level[b] > level[a]}
    known = set(KNOWN_UPWARD)
    assert not upward - known, f"new imports upwards (cycles): {sorted(upward - known)}"
    assert not known - upward, f"gone, take them off KNOWN_UPWARD: {sorted(known - upward)}"


#: Lines a module may have before it must say at its top why it is one module (~500, with room).
LONG_MODULE = 520


def test_a_long_module_says_why_it_is_one() -> None:
    unexplained = []
    for path in sorted(MARKET.rglob("*.py")):
        if "piccolo_migrations" in path.parts:
            continue
        text = path.read_text()
        if text.count("\n") > LONG_MODULE and "500 lines" not in (ast.get_docstring(_tree(path)) or ""):
            unexplained.append(f"{path.relative_to(ROOT)} ({text.count(chr(10))} lines)")
    assert not unexplained, f"long modules with no reason at their top: {unexplained}"


def _shapes(hint: object, found: set[type]) -> None:
    """Every msgspec Struct in a type hint, and the Structs of their fields, into ``found``."""
    if isinstance(hint, type) and issubclass(hint, msgspec.Struct):
        if hint not in found:
            found.add(hint)
            for field_hint in typing.get_type_hints(hint, include_extras=True).values():
                _shapes(field_hint, found)
        return
    for argument in typing.get_args(hint):
        _shapes(argument, found)


def test_the_shapes_of_the_api_live_in_schemas_files(app: Litestar) -> None:
    """What a route takes or answers, if a domain folder defines it, is in that folder's
    ``schemas.py``: a newcomer looking for ``DeductionView`` opens ``points/schemas.py``."""
    shapes: set[type] = set()
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if handler.fn.__module__.startswith("market."):
                for hint in typing.get_type_hints(handler.fn, include_extras=True).values():
                    _shapes(hint, shapes)
    assert len(shapes) > 100, "the walk found too few shapes to be looking at the API"
    domains = {path.name for path in MARKET.iterdir() if (path / "__init__.py").exists()}
    misplaced = sorted(
        f"{shape.__module__}.{shape.__qualname__}" for shape in shapes
        if (parts := shape.__module__.split("."))[1] in domains and parts[-1] != "schemas"
    )
    assert not misplaced, f"API shapes outside a schemas.py: {misplaced}"
