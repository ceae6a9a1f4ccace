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
