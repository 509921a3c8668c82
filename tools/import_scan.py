"""Import scan of the cvgl_bench package: packages, their layers, circles and wrong-way arrows.

    python tools/import_scan.py            # report; exit code 1 when a circle or wrong-way arrow exists
    python tools/import_scan.py --json     # the same as JSON
    python tools/import_scan.py --lines    # also lines per package (code files, blank lines included)

Every ``import`` statement counts, including the lazy ones inside functions (they run too);
imports under ``if TYPE_CHECKING:`` do not (they never run). A *package* is a first-level
entry of ``cvgl_bench``: a sub-package (``data``, ``train`` ...) or a module (``cli``,
``results`` ...). Each package has a layer (:data:`LAYERS`, from docs/architecture.md); an import
is *wrong-way* when it points to a higher layer, or is one of the forbidden pairs of
:data:`FORBIDDEN` (evaluation never imports training, the leaderboard never imports the runner).
A *circle* is a strongly connected set of packages (or of modules) in the import graph.
``get_host()`` calls below the command line are counted too: below it the host is passed down.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "cvgl_bench"

LAYERS: dict[str, int] = {
    # 6: the command line
    "cli": 6, "__main__": 6,
    # 5: built-in plugins (they register through the hooks, as third parties do) and console output
    "builtin": 5, "console": 5, "scaffold": 5,
    # 4: running cells: plan, load, train or reuse, evaluate, write; conformance checks of a method
    "run": 4, "runner": 4, "grid": 4, "worker": 4, "suitefile": 4, "overrides": 4, "conformance": 4,
    # 3: the readers and the toolkit: leaderboard (reads records, calls evaluate), training toolkit
    "leaderboard": 3, "train": 3,
    # 2: evaluation: embedding, exact ranks, metrics, bootstrap, efficiency
    "evaluate": 2, "efficiency": 2,
    # 1: data, and the process-group helpers below both train and evaluate
    "data": 1, "distributed": 1, "dataroot": 1,
    # 0: the core: plugin host, specs, interfaces, records, errors, files
    "__init__": 0, "plugins": 0, "specs": 0, "hookspecs": 0, "method": 0, "results": 0, "records": 0,
    "errors": 0, "fsutil": 0, "provenance": 0, "identity": 0, "checkpoints": 0, "locking": 0, "progress": 0,
    "envvars": 0, "timebound": 0, "seedrule": 0,
}
"""Layer of every first-level package; an import may point to the same or a lower layer."""

FORBIDDEN = {("evaluate", "train"), ("leaderboard", "run"), ("leaderboard", "runner"),
             ("leaderboard", "grid"), ("leaderboard", "train")}
"""Pairs (importer, imported) that are wrong-way whatever their layers."""

HOST_ALLOWED = {"cli", "__main__", "plugins", "console", "runner"}
"""Packages allowed to call ``get_host()`` (the command line; the host itself; the
compatibility shim of the old ``cvgl_bench.runner`` for library callers)."""


def modules(root: Path = ROOT) -> dict[str, Path]:
    """``cvgl_bench.x.y`` -> file, for every module of the package."""
    out = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk(tree: ast.AST):
    """Every node, skipping the bodies of ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                stack.extend(child.orelse)
                continue
            stack.append(child)


def imports_of(name: str, path: Path, known: dict[str, Path]) -> tuple[set[str], int]:
    """The package modules ``name`` imports, and how many times it calls ``get_host()``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    found: set[str] = set()
    host_calls = 0
    for node in _walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "get_host":
            host_calls += 1
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - (node.level - 1)]
                mod = ".".join(anchor + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [mod] + [f"{mod}.{alias.name}" for alias in node.names]
        for target in targets:
            if target == PACKAGE or target.startswith(PACKAGE + "."):
                while target and target not in known:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    found.add(target)
    return found, host_calls


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return sorted(out)


def scan(root: Path = ROOT) -> dict:
    """The whole report as plain data."""
    known = modules(root)
    module_graph: dict[str, set[str]] = {}
    host_calls: dict[str, int] = {}
    for name, path in known.items():
        module_graph[name], calls = imports_of(name, path, known)
        if calls:
            host_calls[name] = calls
    package_graph: dict[str, set[str]] = defaultdict(set)
    arrows: dict[tuple[str, str], list[str]] = defaultdict(list)
    for name, targets in module_graph.items():
        src = package_of(name)
        package_graph.setdefault(src, set())
        for target in targets:
            dst = package_of(target)
            if dst != src:
                package_graph[src].add(dst)
                arrows[(src, dst)].append(f"{name} -> {target}")
    unlayered = sorted(p for p in package_graph if p not in LAYERS)
    wrong = []
    for (src, dst), where in sorted(arrows.items()):
        if dst == "__init__":
            continue  # the package root holds the public names (version, hookimpl, specs) only
        upward = src in LAYERS and dst in LAYERS and LAYERS[dst] > LAYERS[src]
        if upward or (src, dst) in FORBIDDEN:
            wrong.append({"from": src, "to": dst, "imports": sorted(where)})
    lines: dict[str, int] = defaultdict(int)
    for name, path in known.items():
        lines[package_of(name)] += len(path.read_text(encoding="utf-8").splitlines())
    for path in sorted((root / "plugins").glob("*/cvgl_bench_*/**/*.py")):
        lines["plugins/" + path.relative_to(root / "plugins").parts[0]] += \
            len(path.read_text(encoding="utf-8").splitlines())
    deep_host = {m: n for m, n in sorted(host_calls.items()) if package_of(m) not in HOST_ALLOWED}
    return {
        "packages": {p: sorted(d) for p, d in sorted(package_graph.items())},
        "package_circles": circles({p: set(d) - {"__init__"} for p, d in package_graph.items()}),
        "module_circles": circles(module_graph),
        "wrong_way": wrong,
        "unlayered": unlayered,
        "get_host_below_cli": deep_host,
        "lines": dict(sorted(lines.items())),
        "total_lines": sum(n for p, n in lines.items() if not p.startswith("plugins/")),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--lines", action="store_true", help="also print lines per package")
    args = parser.parse_args(argv)
    report = scan()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"packages: {len(report['packages'])}")
        for p, deps in report["packages"].items():
            print(f"  {p} (layer {LAYERS.get(p, '?')}) -> {', '.join(d for d in deps if d != '__init__') or '-'}")
        print(f"package circles: {len(report['package_circles'])}")
        for c in report["package_circles"]:
            print("  " + " <-> ".join(c))
        print(f"module circles: {len(report['module_circles'])}")
        for c in report["module_circles"]:
            print("  " + " <-> ".join(c))
        print(f"wrong-way arrows: {len(report['wrong_way'])}")
        for w in report["wrong_way"]:
            print(f"  {w['from']} -> {w['to']}: {'; '.join(w['imports'])}")
        if report["unlayered"]:
            print(f"packages without a layer: {', '.join(report['unlayered'])}")
        print(f"get_host() calls below the command line: {sum(report['get_host_below_cli'].values())}")
        for m, n in report["get_host_below_cli"].items():
            print(f"  {m}: {n}")
        if args.lines:
            print(f"lines per package (cvgl_bench total {report['total_lines']}):")
            for p, n in report["lines"].items():
                print(f"  {p:<14} {n:>6}")
    bad = report["package_circles"] or report["module_circles"] or report["wrong_way"] or report["unlayered"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
