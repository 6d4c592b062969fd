"""The reproduction sweep: outputs agree with the cells' metrics (each cell's config
copied beside them, the question in about.json), finished cells are skipped, a killed
sweep resumes to the uninterrupted result, aggregation rules, and bad input."""

import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import jax
import pytest

from experiments import cli, reproduce, sweep_results
from mural_jax import tasks
from mural_jax.metrics import read_jsonl, seed_summary

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SWEEP = ["--envs=zigzag_maze", "--seeds=2", "--preset=tiny", "--total_env_steps=1000"]
COMMAND = [sys.executable, "-m", "experiments.reproduce", *SWEEP]
QUESTION = "Does the tiny preset run?"


def _sweep(out, *args, timeout=300):
  return subprocess.run([*COMMAND, f"--out={out}", *args], cwd=ROOT, capture_output=True,
                        text=True, timeout=timeout)


def _cell_dir(out, name):
  return os.path.join(out, "runs", "zigzag_maze", name)


def _wait_for_a_checkpoint(process, cell_dir):
  """Until the running sweep `process` has saved a checkpoint in `cell_dir`."""
  checkpoints = os.path.join(cell_dir, "checkpoints")
  deadline = time.monotonic() + 240
  while not (os.path.isdir(checkpoints) and any(p.isdigit() for p in os.listdir(checkpoints))):
    assert process.poll() is None and time.monotonic() < deadline
    time.sleep(0.02)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
  out = str(tmp_path_factory.mktemp("sweep"))
  result = _sweep(out, "--rewards=mle,sparse", f"--question={QUESTION}")
  assert result.returncode == 0, result.stdout + result.stderr
  return out


def test_outputs_agree_with_the_cells_metrics(sweep):
  rows = json.load(open(os.path.join(sweep, "results.json")))
  assert [(r["reward"], r["seed"]) for r in rows] == [
      ("mle", 0), ("mle", 1), ("sparse", 0), ("sparse", 1)]
  for r in rows:
    metrics = [m for m in read_jsonl(
        os.path.join(_cell_dir(sweep, r["reward"]), "metrics.jsonl")) if m["seed"] == r["seed"]]
    assert [m["epoch"] for m in metrics] == list(range(1, 11))
    assert r["final_success"] == metrics[-1]["eval_success"]
    assert r["final_success_any"] == metrics[-1]["eval_success_any"]
    assert r["closest_approach"] == min(m["eval_min_distance"] for m in metrics)
    assert r["closest_approach"] <= metrics[-1]["eval_distance"]
    reached = next((m for m in metrics if m["eval_success"] >= 0.9), None)
    assert (r["reached_steps"], r["reached_wall_s"]) == (
        (reached["env_steps"], reached["wall_s"]) if reached else (None, None))
    assert r["env_steps"] == 1000 and r["finished"] and r["seeds_in_job"] == 2
    assert (r["env"], r["base_reward"], r["preset"]) == ("zigzag_maze", r["reward"], "tiny")
    assert r["overrides"] == ["total_env_steps=1000"]
    assert r["device"].startswith("cpu (") and r["jax_version"] == jax.__version__
    assert r["commit"] != "" and r["wall_s"] > 0
  table = open(os.path.join(sweep, "results.md")).read()
  assert f"python -m experiments.reproduce {' '.join(SWEEP)} --out={sweep}" in table
  assert "Preset `tiny`, budget 1,000 environment steps" in table
  for name in ("mle (plain classifier)", "sparse"):
    line = next(l for l in table.splitlines() if l.startswith(f"| zigzag_maze | {name} |"))
    assert line.count("|") == 12 and " / 2 | " in line and "| 1,000 |" in line
  for name in ("curves.png", "trajectories_zigzag_maze_mle.png",
               "trajectories_zigzag_maze_sparse.png"):
    assert open(os.path.join(sweep, name), "rb").read(8) == b"\x89PNG\r\n\x1a\n"
  for name in ("mle", "sparse"):  # the resolved config each cell ran, beside the results
    copied = json.load(open(os.path.join(sweep, "configs", f"zigzag_maze_{name}.json")))
    assert copied == json.load(open(os.path.join(_cell_dir(sweep, name), "config.json")))
    assert (copied["reward"], copied["total_env_steps"], copied["num_seeds"]) == (name, 1000, 2)
  assert json.load(open(os.path.join(sweep, "about.json"))) == {
      "question": QUESTION, "superseded_by": None}


def test_rerun_skips_finished_cells(sweep):
  files = [os.path.join(_cell_dir(sweep, name), f) for name in ("mle", "sparse")
           for f in ("log.txt", "cell.json", "finished.json", "metrics.jsonl")]
  files.append(os.path.join(sweep, "about.json"))  # a question given again is not written
  before = {f: open(f).read() for f in files}
  result = _sweep(sweep, "--rewards=mle,sparse", "--question=Another question?")
  assert result.returncode == 0, result.stderr
  assert result.stdout.count("finished before, skipped") == 2
  assert {f: open(f).read() for f in files} == before


def test_killed_sweep_resumes_to_the_uninterrupted_result(sweep, tmp_path):
  out = str(tmp_path)
  process = subprocess.Popen([*COMMAND, f"--out={out}", "--rewards=mle"], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
  _wait_for_a_checkpoint(process, _cell_dir(out, "mle"))
  os.killpg(process.pid, signal.SIGKILL)  # the sweep and its train process
  process.wait()

  cells = reproduce.make_cells(["zigzag_maze"], ["mle"], "tiny", 2, [], 1000)
  partial = sweep_results.write_results(out, cells, "killed")
  assert partial and not any(r["finished"] for r in partial)
  assert all(r["env_steps"] < 1000 for r in partial)
  assert not os.path.exists(os.path.join(_cell_dir(out, "mle"), "finished.json"))

  result = _sweep(out, "--rewards=mle")
  assert result.returncode == 0, result.stderr
  metrics = lambda d: [{k: v for k, v in row.items() if k != "wall_s"}  # all but the clock
                       for row in read_jsonl(os.path.join(_cell_dir(d, "mle"), "metrics.jsonl"))]
  assert metrics(out) == metrics(sweep)
  state = json.load(open(os.path.join(_cell_dir(out, "mle"), "cell.json")))
  assert state["runs"] == 2 and state["returncode"] == 0


def test_results_without_run_files_are_not_overwritten(sweep, tmp_path):
  """A folder whose results.json outlived its run files (made elsewhere) is refused
  before anything runs: rerunning would retrain its cells and drop their rows."""
  out = tmp_path / "copy"
  shutil.copytree(sweep, out, ignore=shutil.ignore_patterns("runs"))
  before = (out / "results.json").read_text()
  result = _sweep(str(out), "--rewards=l2")
  assert result.returncode == 2, result.stdout + result.stderr
  assert "(zigzag_maze mle, zigzag_maze sparse)" in result.stderr
  assert "Give another --out" in result.stderr and "Traceback" not in result.stderr
  assert (out / "results.json").read_text() == before and not (out / "runs").exists()


def test_a_train_process_stopped_by_hand_is_reported_resumable(tmp_path):
  """SIGTERM to a cell's train process (not the sweep): it checkpoints and exits 143, and
  the sweep names the cell stopped, not failed. (A budget it cannot finish before the
  signal comes.)"""
  process = subprocess.Popen([*COMMAND, f"--out={tmp_path}", "--rewards=sparse",
                              "--total_env_steps=1000000"], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
  _wait_for_a_checkpoint(process, _cell_dir(tmp_path, "sparse"))
  with open(f"/proc/{process.pid}/task/{process.pid}/children") as f:
    (train,) = map(int, f.read().split())
  os.kill(train, signal.SIGTERM)
  _, stderr = process.communicate(timeout=240)
  assert process.returncode == 1
  assert "zigzag_maze sparse (stopped by SIGTERM, resumable)" in stderr
  state = json.load(open(os.path.join(_cell_dir(tmp_path, "sparse"), "cell.json")))
  assert state["returncode"] == 143


def test_cell_timeout_leaves_the_cell_unfinished(tmp_path):
  result = _sweep(tmp_path, "--rewards=sparse", "--cell_timeout_s=0.5")
  assert result.returncode == 1
  assert "zigzag_maze sparse (timed out)" in result.stderr
  state = json.load(open(os.path.join(_cell_dir(tmp_path, "sparse"), "cell.json")))
  assert state["wall_s"] >= 0.5
  assert not os.path.exists(os.path.join(_cell_dir(tmp_path, "sparse"), "finished.json"))


def _epochs(successes, seed=0, distances=None, min_distances=None, epoch_s=None):
  """Hand-made metrics rows, 100 environment steps (and `epoch_s` wall seconds) per epoch."""
  rows = []
  for i, s in enumerate(successes):
    row = {"epoch": i + 1, "env_steps": 100 * (i + 1), "seed": seed, "eval_success": s,
           "eval_distance": distances[i] if distances else 5.0}
    if min_distances:
      row["eval_min_distance"] = min_distances[i]
    if epoch_s:
      row["wall_s"] = epoch_s * (i + 1)
    rows.append(row)
  return rows


def test_seed_summary_rules():
  rows = _epochs([0, 0, 0.5, 0] + [0] * 14 + [1.0, 1.0], distances=[5, 4, 3, 6] + [2] * 16)
  summary = seed_summary(rows[::-1])  # any order
  assert summary["first_success_steps"] == 300
  assert summary["final_success"] == 1.0 and summary["last10_success"] == 1.0  # 2 of 20
  assert summary["solved"] and summary["env_steps"] == 2000
  assert summary["closest_approach"] == 2  # eval_distance without eval_min_distance
  assert summary["final_success_any"] is None
  # The first epoch at the solved level (not the first success): epoch 19; no wall_s rows.
  assert summary["reached_steps"] == 1900 and summary["reached_wall_s"] is None
  timed = seed_summary(_epochs([0, 0.5, 0.875, 0.9, 1.0, 0.0], epoch_s=7.5))
  assert (timed["reached_steps"], timed["reached_wall_s"]) == (400, 30.0)
  assert not timed["solved"]  # reached once, not held

  almost = seed_summary(_epochs([0] * 18 + [0.75, 1.0]))
  assert almost["last10_success"] == 0.875 and not almost["solved"]
  assert almost["first_success_steps"] == 1900
  short = seed_summary(_epochs([1.0, 0.5, 0.95], min_distances=[1, 0.5, 0.8]))
  assert short["last10_success"] == 0.95 and short["solved"]  # one epoch of three
  assert short["closest_approach"] == 0.5
  never = seed_summary(_epochs([0.0] * 5))
  assert never["first_success_steps"] is None and not never["solved"]
  assert never["reached_steps"] is None and never["reached_wall_s"] is None
  # Judged over a whole budget's window (a run stopped once solved): the last 10 % of 40
  # epochs is 4, so 3 solved epochs are not enough, and 4 are only if their mean is.
  assert not seed_summary(_epochs([0.0] * 5 + [1.0] * 3), num_epochs=40)["solved"]
  assert seed_summary(_epochs([0.0] * 5 + [1.0] * 4), num_epochs=40)["solved"]
  assert not seed_summary(_epochs([0.0] * 5 + [0.5, 1.0, 1.0, 1.0]), num_epochs=40)["solved"]
  assert seed_summary(_epochs([0.0] * 5 + [0.5, 1.0, 1.0, 1.0]))["solved"]  # window of 1


def test_rows_and_table_from_hand_made_metrics():
  info = {"env": "zigzag_maze", "cell": "mural_no_meta", "reward": "mural", "preset": "cpu",
          "overrides": ["meta_nml.first_passes=0"], "seeds": [3, 4, 5], "wall_s": 90.0,
          "device": "cpu (2 cores)", "jax_version": "x", "commit": "abc", "finished": False}
  metrics = [row for seed, successes in ((3, [0, 0, 1, 1]), (4, [0, 1, 1, 1]), (5, [0, 0, 0]))
             for row in _epochs(successes, seed=seed, epoch_s=30)]
  rows = sweep_results.cell_rows(metrics, info)
  assert [(r["seed"], r["reward"], r["base_reward"]) for r in rows] == [
      (3, "mural_no_meta", "mural"), (4, "mural_no_meta", "mural"),
      (5, "mural_no_meta", "mural")]
  assert [r["first_success_steps"] for r in rows] == [300, 200, None]
  line = sweep_results.markdown_table(rows).splitlines()[-1]
  # At the solved level: seed 3 at 300 steps (90 s), seed 4 at 200 (60 s), seed 5 never.
  assert line == ("| zigzag_maze | mural_no_meta | 2 / 3 | 250 | 250, 1.2 min (2 of 3) | 0.67 | "
                  "0.67 | 5.00 | 300 (unfinished) | 1.5 min | cpu (2 cores) |")


def test_a_cell_another_live_job_runs_is_skipped_and_a_stale_lock_is_not(tmp_path):
  cell, = reproduce.make_cells(["zigzag_maze"], ["mle"], "tiny", 1, [], 100)
  directory = reproduce.workdir(str(tmp_path), cell)
  os.makedirs(directory)
  lock = os.path.join(directory, reproduce.LOCK)
  other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
  try:
    with open(lock, "w") as f:
      f.write(str(other.pid))
    status = reproduce.run_cell(cell, str(tmp_path), {}, 0, dict(os.environ))
    assert status == f"skipped (another job, pid {other.pid}, is running it)"
    assert sorted(os.listdir(directory)) == [reproduce.LOCK]  # nothing ran, nothing written
  finally:
    other.kill()
    other.wait()
  assert reproduce.running_pid(lock) is None  # its job is gone: the lock is stale


def test_logs_name_paths_inside_the_repository_relative_to_it(sweep):
  inside = os.path.join(reproduce.ROOT, "results", "push", "runs", "mural")
  assert reproduce.repo_relative(inside) == os.path.join("results", "push", "runs", "mural")
  assert reproduce.repo_relative(sweep) == sweep  # outside: kept absolute
  header = open(os.path.join(_cell_dir(sweep, "mle"), "log.txt")).readline()
  assert header.split(": ", 1)[1].startswith("python -m experiments.train ")
  assert sys.executable not in header


def test_the_header_names_the_commit_each_cell_ran_at():
  row = lambda env, cell, commit: {"env": env, "reward": cell, "commit": commit}
  one = [row("door", "mural", "abc"), row("door", "mural", "abc")]
  assert sweep_results.commits(one) == "commit `abc`"
  # A sweep merged later: its cells ran at two commits, neither the merging one.
  merged = one + [row("door", "sparse", "abc"), row("door", "mural_no_meta", "def")]
  assert sweep_results.commits(merged) == (
      "commits `abc` (mural, sparse), `def` (mural_no_meta)")
  assert sweep_results.commits(merged + [row("push", "mural", "def")]) == (
      "commits `abc` (door mural, door sparse), `def` (door mural_no_meta, push mural)")


def test_overrides_and_variants():
  assert cli.split_overrides(["sac.updates_per_step=0.5,num_envs=8",
                                    "meta_nml.hidden=(64,64)"]) == [
      "sac.updates_per_step=0.5", "num_envs=8", "meta_nml.hidden=(64,64)"]
  cell, = reproduce.make_cells(["spiral_maze"], ["mural_no_meta"], "tiny", 3,
                               ["meta_nml.hidden=(8,8)"], 300)
  assert (cell.reward, cell.seeds, cell.num_epochs) == ("mural", (0, 1, 2), 3)
  assert cell.train_args()[-4:] == [
      "--config.meta_nml.first_passes=0", "--config.meta_nml.later_passes=0",
      "--config.meta_nml.hidden=(8,8)", "--config.total_env_steps=300"]


def test_kernel_ablations_undo_one_part_of_the_calibrated_kernel_each():
  """On the push (cpu: kernel share 0.1, 64 replay-state + 64 success-example tasks)."""
  from mural_jax.config import RunConfig
  configs = {}
  for cell in reproduce.make_cells(["sawyer_push"], ["mural", "mural_reference_kernel",
                                                     "mural_no_example_tasks"], "cpu", 3, [], 0):
    config = importlib.import_module("experiments.configs.sawyer_push").get_config("cpu")
    for override in (f"reward={cell.reward}",) + cell.overrides:
      cli.apply_override(config, override)
    m = RunConfig.of(config).meta_nml
    configs[cell.name] = (m.kernel_share, m.kernel_threshold, m.num_tasks, m.num_positive_tasks)
  assert configs == {"mural": (0.1, 0.6, 64, 64),
                     "mural_reference_kernel": (0.0, 0.6, 64, 64),
                     "mural_no_example_tasks": (0.1, 0.6, 128, 0)}


@pytest.mark.parametrize("args, message", [
    (["--envs=maze"], "Unknown environment 'maze'; valid choices: ant_maze, claw_valve,"),
    (["--rewards=mle,vicee"], "Unknown reward or variant 'vicee'; valid choices: cnml, count, "
                              "count_bonus, l2, mle, mural, rnd, sparse, vice, "
                              "mural_no_example_tasks, mural_no_meta, mural_reference_kernel."),
    (["--preset=huge"], f"Unknown preset 'huge'; valid choices: {', '.join(tasks.PRESETS)}."),
    (["--seeds=0"], "--seeds must be a positive integer, got 0."),
    (["--config.sac.batch_sise=8"], "Unknown config field 'sac.batch_sise'"),
    (["--set=sac.batch_sise=8"], "Unknown config field 'sac.batch_sise'"),
    (["--config.num_envs=0"], "num_envs must be a positive integer, got 0."),
    (["--set=num_envs=0"], "num_envs must be a positive integer, got 0."),
    (["--config.reward=mle"], "--config.reward=... is set by the sweep; use its own flags"),
])
def test_bad_input_exits_2_before_running(tmp_path, args, message):
  result = subprocess.run([sys.executable, "-m", "experiments.reproduce",
                           f"--out={tmp_path / 'out'}", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
  assert result.returncode == 2, result.stderr
  assert message in result.stderr and "Traceback" not in result.stderr
  assert not (tmp_path / "out").exists()
