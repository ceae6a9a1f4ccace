import importlib
import pathlib
import subprocess
import sys

import kerasfg

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_every_listed_submodule_imports_and_every_module_is_listed():
    for name in kerasfg._SUBMODULES:
        assert getattr(kerasfg, name) is importlib.import_module(f"kerasfg.{name}")
    on_disk = {p.stem for p in (REPO / "kerasfg").iterdir()
               if (p.suffix == ".py" or (p / "__init__.py").exists()) and not p.name.startswith("_")}
    assert on_disk - {"configs"} == set(kerasfg._SUBMODULES)


def test_importing_kerasfg_loads_neither_tensorflow_nor_keras():
    code = "import sys, kerasfg; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]


def _import_graph():
    """``{module: modules of kerasfg it imports}``, from every import statement (function-level ones too).

    ``from package import submodule`` counts as importing the submodule only: it runs the package's
    ``__init__`` first, but that is in progress (or done) whenever a submodule imports its own package.
    """
    import ast

    files = {}
    for path in (REPO / "kerasfg").rglob("*.py"):
        parts = path.relative_to(REPO).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path

    def known(name):
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name

    graph = {}
    for module, path in files.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets.update(known(alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                submodules = {f"{base}.{alias.name}" for alias in node.names} & set(files)
                targets.update(submodules or {known(base)})
        graph[module] = {t for t in targets if t.startswith("kerasfg") and t != module}
    return graph


def test_no_module_imports_one_that_imports_it_back():
    graph = _import_graph()
    assert "kerasfg.export.verify" in graph["kerasfg.export.savedmodel"]  # the walk sees imports

    def reaches(start, goal):
        seen, stack = set(), [start]
        while stack:
            module = stack.pop()
            if module == goal:
                return True
            if module not in seen:
                seen.add(module)
                stack.extend(graph.get(module, ()))
        return False

    cycles = sorted((a, b) for a in graph for b in graph[a] if reaches(b, a))
    assert not cycles, f"import cycles (module, an import of it that leads back): {cycles}"
