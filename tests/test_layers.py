"""The house's layering (ARCHITECTURE.md): imports flow one way, down the layers, with no circles.

Every `import forecaster...` in every module counts, including those inside functions and under
TYPE_CHECKING: a lazy import is still a dependency, and a circle through one is still a circle."""

from __future__ import annotations

import ast
from pathlib import Path

import forecaster

PACKAGE = Path(forecaster.__file__).resolve().parent

#: Bottom to top. A module may import its own layer and the layers below it, never above.
LAYERS = ("core", "model", "inference", "analysis", "ingest", "store", "workflow", "outputs", "cli")
LIMIT_LINES = 650  # "no module over ~600 lines"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("forecaster"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("forecaster") and node.level == 0:
            for a in node.names:  # `from forecaster.store import runs` imports the module forecaster.store.runs
                sub = f"{node.module}.{a.name}"
                out.add(sub if (PACKAGE.parent / (sub.replace(".", "/") + ".py")).exists() else node.module)
    return out


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {m: {i for i in _imports(p) if i in modules and i != m} for m, p in modules.items()}


def test_every_module_sits_in_a_layer() -> None:
    stray = [m for m in _graph() if m.count(".") >= 1 and _layer(m) is None and m not in {"forecaster.__main__"}]
    assert not stray, f"modules outside the layer packages {LAYERS}: {stray}"


def test_imports_flow_down_the_layers() -> None:
    rank = {name: i for i, name in enumerate(LAYERS)}
    upward = []
    for mod, deps in _graph().items():
        here = _layer(mod)
        if here is None:
            continue
        for dep in deps:
            there = _layer(dep)
            if there is not None and rank[there] > rank[here]:
                upward.append(f"{mod} -> {dep}")
    assert not upward, "imports that go up the layers:\n" + "\n".join(sorted(upward))


def test_no_import_circles() -> None:
    graph = _graph()
    seen: dict[str, int] = {}  # 1 = on the current path, 2 = done
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        seen[node] = 1
        for dep in sorted(graph.get(node, ())):
            if dep.startswith(node + "."):  # a package importing its own submodule is not a circle
                continue
            if seen.get(dep) == 1:
                cycles.append([*path[path.index(dep):], dep] if dep in path else [node, dep])
            elif dep not in seen:
                visit(dep, [*path, dep])
        seen[node] = 2

    for mod in sorted(graph):
        if mod not in seen:
            visit(mod, [mod])
    assert not cycles, "import circles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_no_module_is_too_long() -> None:
    long = {m: n for m, p in ((_module_name(p), p) for p in PACKAGE.rglob("*.py"))
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > LIMIT_LINES}
    assert not long, f"modules over {LIMIT_LINES} lines (split them by job): {long}"


def test_each_layer_says_what_it_owns() -> None:
    for name in LAYERS:
        init = PACKAGE / name / "__init__.py"
        if not init.exists():
            continue
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and "may import" in doc.lower(), f"{init}: needs a docstring saying what the layer owns and what it may import"


LIMIT_FUNCTION = 80  # "no function over 80 lines" (issue 24)
LIMIT_COMMAND_BODY = 30  # "no command body over 30 lines" (issue 24)


def _functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def test_no_function_is_too_long() -> None:
    """No function or method in forecaster/ runs past 80 lines, counted from its `def` line to its
    last line, docstring included (decorators not counted). A longer one is split by what each part
    does, each part named for it. Every offender is named, with its length."""
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for fn in _functions(ast.parse(path.read_text(encoding="utf-8"))):
            size = (fn.end_lineno or fn.lineno) - fn.lineno + 1
            if size > LIMIT_FUNCTION:
                long.append(f"{_module_name(path)}:{fn.name} ({size} lines)")
    assert not long, f"functions over {LIMIT_FUNCTION} lines: {long}"


def _registered_names(tree: ast.AST) -> set[str]:
    """Functions registered on a Typer app by a call: `app.command("name")(function)`."""
    names = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Call)
            and isinstance(node.func.func, ast.Attribute)
            and node.func.func.attr in {"command", "callback"}
            and node.args
        ):
            target = node.args[0]
            if isinstance(target, ast.Name):
                names.add(target.id)
            elif isinstance(target, ast.Attribute):  # main.py: app.command("whatif")(scenario.whatif)
                names.add(target.attr)
    return names


def _is_decorated_command(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """`@app.command(...)` or `@app.callback(...)` (with or without the call's parentheses)."""
    for deco in fn.decorator_list:
        target = deco.func if isinstance(deco, ast.Call) else deco
        if isinstance(target, ast.Attribute) and target.attr in {"command", "callback"}:
            return True
    return False


def test_no_command_body_is_too_long() -> None:
    """Every Typer command stays thin: read options, call one function from a lower layer
    (workflow/, outputs/, analysis/), render, map errors. Its body, what follows the signature
    (the options) and the docstring, is at most 30 lines.

    A command is a function in forecaster/cli/ that is decorated `@app.command(...)` or
    `@app.callback(...)`, or registered by a call `app.command("name")(function)` anywhere in
    cli/ (cli/main.py mounts some that way). Every offender is named, with its body's length."""
    cli = PACKAGE / "cli"
    trees = {path: ast.parse(path.read_text(encoding="utf-8")) for path in sorted(cli.rglob("*.py"))}
    registered = set().union(*(_registered_names(t) for t in trees.values()))
    long = []
    for path, tree in trees.items():
        for fn in _functions(tree):
            if not (_is_decorated_command(fn) or fn.name in registered):
                continue
            body = fn.body
            if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                body = body[1:]
            size = (body[-1].end_lineno or body[-1].lineno) - body[0].lineno + 1 if body else 0
            if size > LIMIT_COMMAND_BODY:
                long.append(f"{_module_name(path)}:{fn.name} (body {size} lines)")
    assert not long, f"Typer commands whose body runs past {LIMIT_COMMAND_BODY} lines: {long}"
