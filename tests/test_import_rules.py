"""The import rules of docs/architecture.md, checked by parsing every module's imports (ast).

Direct imports (module level and inside functions) must not name a forbidden part; for the
"no torch" rules the check follows ravejobs' own imports transitively, since a module that
imports a torch-importing module imports torch.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCHEDULER = ("ravejobs.slurm", "submitit")
RUN_FOLDERS = ("ravejobs.rundir", "ravejobs.manifest")
JOBS = ("ravejobs.jobs",)
SIGNALS = ("ravejobs.stepsignals", "signal")
LIGHTNING = ("pytorch_lightning", "lightning")
TORCH = ("torch", *LIGHTNING, "torchaudio")

# part (module prefixes) -> (forbidden direct imports, forbidden transitive third-party imports)
RULES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "plan": (("ravejobs.plan", "ravejobs.stages"),
             (*SCHEDULER, *RUN_FOLDERS, "ravejobs.atomic", "ravejobs.metrics"), TORCH),
    # `os`: the environment is probed at the launch edge (ravejobs.probes), never in the config
    "config": (("ravejobs.config", "ravejobs.naming", "ravejobs.validate_values"),
               (*RUN_FOLDERS, *JOBS, "os", "ravejobs.probes", "ravejobs.diskcheck"), TORCH),
    # plain torch libraries: the Trainer wiring (Lightning) lives in the runtime
    "model and prior": (("ravejobs.model", "ravejobs.prior"),
                        (*RUN_FOLDERS, *SCHEDULER, *JOBS, *SIGNALS, *LIGHTNING), LIGHTNING),
    "export and data": (("ravejobs.export", "ravejobs.data"), (*JOBS, "ravejobs.cli"), ()),
    "report": (("ravejobs.report", "ravejobs.status"), (*SCHEDULER, *TORCH), ()),
    "bottom helpers": (("ravejobs.durations", "ravejobs.jobid", "ravejobs.sacct_records",
                        "ravejobs.ranks"), ("ravejobs.slurm", *TORCH, *JOBS), TORCH),
    "launching and submitting": (("launch", "hydra_plugins", "ravejobs.sweep", "ravejobs.submit",
                                  "ravejobs.plan", "ravejobs.cancel", "ravejobs.probes"),
                                 TORCH, TORCH),
}
# `ravejobs status` asks sacct through the scheduler module; the report never does.
EXCEPTIONS = {("ravejobs.status", "ravejobs.slurm")}


def _modules() -> dict[str, Path]:
    found = {"launch": ROOT / "launch.py"}
    for base in ("ravejobs", "hydra_plugins"):
        for path in (ROOT / base).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def _nodes(tree: ast.AST, top: bool):
    """Import statements; `top`: only those run at import time (not in functions or under
    `if TYPE_CHECKING`)."""
    if not top:
        yield from ast.walk(tree)
        return
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        yield node
        yield from _nodes(node, True)


@cache
def imports(module: str, top: bool = False) -> frozenset[str]:
    """What `module` imports: anywhere in its code, or (`top`) when it is imported."""
    tree = ast.parse(MODULES[module].read_text())
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    out = set()
    for node in _nodes(tree, top):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES)
    return frozenset(out)


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def closure(module: str) -> set[str]:
    """What importing `module` imports, and what its own functions import directly."""
    seen, todo = set(imports(module)), [n for n in imports(module) if n in MODULES]
    while todo:
        for name in imports(todo.pop(), top=True):
            if name not in seen:
                seen.add(name)
                if name in MODULES:
                    todo.append(name)
    return seen


def _violations(part: str) -> list[str]:
    prefixes, direct, transitive = RULES[part]
    members = [m for m in MODULES if _under(m, prefixes)]
    assert members, f"no module in part {part!r}"
    bad = []
    for module in members:
        for name in sorted(imports(module)):
            if _under(name, direct) and not _under(name, prefixes) and \
                    (module, name) not in EXCEPTIONS:
                bad.append(f"{module} imports {name}")
        if transitive:
            via = sorted(n for n in closure(module) if _under(n, transitive))
            if via:
                bad.append(f"{module} reaches {via[0]} (transitively)")
    return bad


@pytest.mark.parametrize("part", list(RULES))
def test_import_rules(part):
    assert _violations(part) == []


def test_the_checker_sees_a_violation(tmp_path, monkeypatch):
    """A rule breach is reported (the test can fail): a model module importing run folders."""
    fake = tmp_path / "bad.py"
    fake.write_text("def f():\n    from ravejobs.rundir import RunDir\n    import submitit\n")
    monkeypatch.setitem(MODULES, "ravejobs.model.bad", fake)
    imports.cache_clear()
    try:
        found = _violations("model and prior")
    finally:
        imports.cache_clear()
    assert "ravejobs.model.bad imports ravejobs.rundir" in found
    assert "ravejobs.model.bad imports submitit" in found
