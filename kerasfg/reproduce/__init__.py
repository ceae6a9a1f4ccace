"""Experiment grids: run the cells of a paper's results table, collect our numbers beside the paper's.

```python
from kerasfg.reproduce import load_grid, run_grid

run = run_grid(load_grid("experiments/003/table-1.yaml"), scale="smoke")
print((run.directory / "results.md").read_text())
```

`kerasfg.reproduce.grid` holds the YAML schema, `runner` the resumable cells, `references` the cells whose
networks other cells use, `results` the table, `hparams` the TensorBoard HParams experiment;
``kerasfg reproduce`` is the command. Importing the
package does not import TensorFlow; the runner's names load on first use.
"""

import importlib

from kerasfg.reproduce.grid import SCALES, Cell, Grid, load_grid

_RUNNER = ("GridRun", "grid_directory", "run_grid")

__all__ = ["SCALES", "Cell", "Grid", "load_grid", *_RUNNER]


def __getattr__(name):
    if name in _RUNNER:
        return getattr(importlib.import_module("kerasfg.reproduce.runner"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
