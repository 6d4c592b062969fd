"""experiments.results_index on two hand-made sweep folders, one superseded by the other:
the index's fields and statuses, the folders without results.json, and bad about.json
or results.json files (exit 2 naming them, nothing written)."""

import json
import pathlib
import subprocess
import sys

import pytest

from experiments import results_index

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _row(reward, seed, solved, env="zigzag_maze", env_steps=300_000, finished=True,
         overrides=(), commit="abc1234", device="cpu (2 cores)", preset="cpu"):
  """A results.json row in experiments.sweep_results' format."""
  return {"env": env, "reward": reward, "base_reward": reward, "seed": seed,
          "preset": preset, "overrides": list(overrides), "final_success": float(solved),
          "last10_success": float(solved), "first_success_steps": 1000 if solved else None,
          "reached_steps": None, "reached_wall_s": None, "closest_approach": 0.0,
          "final_success_any": float(solved), "solved": solved, "env_steps": env_steps,
          "finished": finished, "wall_s": 60.0, "seeds_in_job": 3, "device": device,
          "jax_version": "0.10.2", "commit": commit}


def _folder(root, name, rows, about=None, files=()):
  folder = root / name
  folder.mkdir(parents=True)
  (folder / "results.json").write_text(json.dumps(rows))
  if about is not None:
    (folder / "about.json").write_text(json.dumps(about))
  for path, text in files:
    (folder / path).parent.mkdir(parents=True, exist_ok=True)
    (folder / path).write_text(text)
  return folder


@pytest.fixture
def results(tmp_path):
  """An old sweep superseded by a new one (one cell unfinished, its budget in configs/),
  a single run, and a sweep's git-ignored runs/ that the index must not list."""
  _folder(tmp_path, "zigzag_maze/old_preset",
          [_row("mural", s, s == 1) for s in range(3)] + [_row("mle", s, False) for s in range(3)],
          {"question": "Does MURAL | the old preset solve the zigzag?",
           "superseded_by": "zigzag_maze/cpu"},
          [("runs/zigzag_maze/mural/metrics.jsonl", "{}\n")])
  _folder(tmp_path, "zigzag_maze/cpu",
          [_row("mural", s, True, commit="def5678") for s in range(3)]
          + [_row("sparse", s, False, env_steps=120_000, finished=False, commit="0123abc")
             for s in range(2)],
          {"question": "Does MURAL solve the zigzag at the cpu preset?", "superseded_by": None},
          [("configs/zigzag_maze_sparse.json", json.dumps({"total_env_steps": 300_000})),
           ("configs/zigzag_maze_mural.json", json.dumps({"total_env_steps": 300_000}))])
  run = tmp_path / "quickstart"
  run.mkdir()
  for name in ("metrics.jsonl", "config.json", "README.md", "curves.png"):
    (run / name).write_text("{}")
  return tmp_path


def _index(root):
  return subprocess.run([sys.executable, "-m", "experiments.results_index", f"--root={root}"],
                        cwd=ROOT, capture_output=True, text=True, timeout=60)


def _table_rows(text):
  """{first column: the other columns} of every table row of the index."""
  rows = {}
  for line in text.splitlines():
    if line.startswith("| [") or line.startswith("| `"):
      cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
      rows[cells[0]] = cells[1:]
  return rows


def test_index_lists_every_folder_with_its_fields_and_status(results):
  result = _index(results)
  assert result.returncode == 0, result.stderr
  text = (results / "README.md").read_text()
  assert "python -m experiments.results_index" in text
  rows = _table_rows(text)  # neither the cells' runs/ nor the copied configs/ are listed
  assert list(rows) == ["[zigzag_maze/cpu](zigzag_maze/cpu/)",
                        "[zigzag_maze/old_preset](zigzag_maze/old_preset/)",
                        "[quickstart](quickstart/)"]
  assert rows["[zigzag_maze/cpu](zigzag_maze/cpu/)"] == [
      "Does MURAL solve the zigzag at the cpu preset?", "zigzag_maze", "mural, sparse",
      "mural 3, sparse 2", "cpu", "mural 300,000, sparse 120,000 of 300,000 (unfinished)",
      "def5678, 0123abc", "cpu (2 cores)", "mural 3/3, sparse 0/2", "current"]
  assert rows["[zigzag_maze/old_preset](zigzag_maze/old_preset/)"] == [
      "Does MURAL \\| the old preset solve the zigzag?", "zigzag_maze", "mural, mle", "3",
      "cpu", "300,000", "abc1234", "cpu (2 cores)", "mural 1/3, mle 0/3",
      "superseded by [zigzag_maze/cpu](zigzag_maze/cpu/)"]
  assert rows["[quickstart](quickstart/)"] == [
      "`config.json`, `metrics.jsonl`, [README.md](quickstart/README.md)"]


def test_an_unsolved_seed_of_an_unfinished_cell_and_no_about_json(tmp_path):
  _folder(tmp_path, "mjx", [_row("mural", 0, True, env="sawyer_push", finished=False,
                                 env_steps=50_000, overrides=["total_env_steps=100000"]),
                            _row("mural", 0, False, env="ant_maze", preset="gpu")])
  row = results_index.folder_row(str(tmp_path), "mjx")
  assert row["question"] is None and row["superseded_by"] is None
  assert row["solved"] == {"sawyer_push mural": (0, 1), "ant_maze mural": (0, 1)}
  assert row["budget"] == {"sawyer_push mural": "50,000 of 100,000 (unfinished)",
                           "ant_maze mural": "300,000"}
  line = results_index.markdown([row], {}).splitlines()[-1]
  assert line == ("| [mjx](mjx/) | - | sawyer_push, ant_maze | mural | 1 | cpu, gpu | "
                  "sawyer_push mural 50,000 of 100,000 (unfinished), ant_maze mural 300,000 | "
                  "abc1234 | cpu (2 cores) | sawyer_push mural 0/1, ant_maze mural 0/1 | current |")


def test_a_sweep_folder_before_its_first_epoch_says_so(tmp_path):
  _folder(tmp_path, "push/ablations", [], {"question": "Does it?", "superseded_by": None})
  line = results_index.markdown([results_index.folder_row(str(tmp_path), "push/ablations")],
                                {}).splitlines()[-1]
  assert line == ("| [push/ablations](push/ablations/) | Does it? | - | - | - | - | - | - | - "
                  "| - | no results yet: running, or stopped before a cell's first epoch |")


@pytest.mark.parametrize("folder, file, text, message", [
    ("zigzag_maze/old_preset", "about.json",
     {"question": "q", "superseded_by": "zigzag_maze/newer"},
     "zigzag_maze/old_preset/about.json: superseded_by 'zigzag_maze/newer' is not a folder"),
    ("zigzag_maze/old_preset", "about.json", {"question": "q", "superseeded_by": None},
     'zigzag_maze/old_preset/about.json: expected {"question": "...", "superseded_by"'),
    ("zigzag_maze/cpu", "results.json", [{"env": "zigzag_maze"}],
     "zigzag_maze/cpu/results.json: not a sweep's rows (KeyError: 'reward')"),
    ("zigzag_maze/cpu", "results.json", None, "zigzag_maze/cpu/results.json: Expecting value"),
])
def test_bad_files_exit_2_naming_them(results, folder, file, text, message):
  (results / folder / file).write_text("" if text is None else json.dumps(text))
  result = _index(results)
  assert result.returncode == 2, result.stderr
  assert result.stderr.startswith("error: ") and message in result.stderr
  assert "Traceback" not in result.stderr
  assert not (results / "README.md").exists()


def test_a_root_that_is_not_a_folder_exits_2(tmp_path):
  result = _index(tmp_path / "missing")
  assert result.returncode == 2 and "is not a directory" in result.stderr
