"""examples/quickstart.ipynb runs, at the tiny preset, cell by cell in one namespace (as
a kernel would), so that it cannot rot."""

import json
import pathlib

import matplotlib
import numpy as np

NOTEBOOK = pathlib.Path(__file__).resolve().parent.parent / "examples" / "quickstart.ipynb"


def test_quickstart_notebook_runs_at_the_tiny_preset():
  matplotlib.use("Agg")  # plt.show() draws nothing in a test
  cells = [c for c in json.loads(NOTEBOOK.read_text())["cells"] if c["cell_type"] == "code"]
  assert "parameters" in cells[0]["metadata"]["tags"]
  namespace = {}
  exec("".join(cells[0]["source"]), namespace)
  assert namespace["PRESET"] == "cpu"  # what a reader runs
  namespace.update(PRESET="tiny", TOTAL_ENV_STEPS=300)
  for cell in cells[1:]:
    exec(compile("".join(cell["source"]), str(NOTEBOOK), "exec"), namespace)
  history, reward_map = namespace["history"], namespace["reward_map"]
  assert [m["env_steps"] for m in history] == [100, 200, 300]
  assert namespace["config"].preset == "tiny" and namespace["config"].reward == "mural"
  assert reward_map.shape == (41, 41) and np.all((reward_map >= 0) & (reward_map <= 1))
  assert len(namespace["visited"]) == 300
