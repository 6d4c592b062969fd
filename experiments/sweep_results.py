"""The reproduction sweep's output directory: each cell's files (DIR/runs/<env>/<cell>)
and the results aggregated from them. Kept apart from running the cells so the
results can be regenerated, and tested, from the files alone.

write_results turns every cell's metrics.jsonl and cell.json into DIR/results.json
(one row per environment, cell and seed), DIR/results.md (one row per environment and
cell), DIR/curves.png and DIR/trajectories_<env>_<cell>.png, and copies each cell's
resolved config to DIR/configs/<env>_<cell>.json, so a results folder can be read
without its commit's source. Of DIR/runs/ only the small files are committed (metrics,
cell.json, finished.json, config, log; not checkpoints, TensorBoard events or
trajectories), so a fresh clone regenerates the results and skips finished cells. A cell is
duck-typed: env, name, preset, total_env_steps and train_args() as in
experiments.reproduce.Cell. DIR/about.json, the folder's question and what supersedes
it (experiments.results_index reads it), is written once and then left to its authors.
"""

import collections
import json
import os
import shutil
import statistics
import tempfile

from mural_jax import rewards
from mural_jax.metrics import LAST_FRACTION, SOLVED, read_jsonl, seed_summary


# -- files of a cell --------------------------------------------------------------------------

def workdir(out: str, cell) -> str:
  return os.path.join(out, "runs", cell.env, cell.name)


def read_json(path: str, default):
  if not os.path.exists(path):
    return default
  with open(path) as f:
    return json.load(f)


def write_json(path: str, value) -> None:
  """Writes atomically: a kill leaves the old file or the new one, and two jobs writing
  one folder's file never share a temporary file."""
  handle, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", suffix=".tmp")
  with os.fdopen(handle, "w") as f:
    json.dump(value, f, indent=1)
  os.chmod(tmp, 0o644)  # mkstemp's 0600 would make results unreadable to others
  os.replace(tmp, path)


def write_about(out: str, question: str) -> None:
  """Writes DIR/about.json with `question` (superseded by nothing) unless the folder
  has one already, which stays as its authors left it."""
  path = os.path.join(out, "about.json")
  if not os.path.exists(path):
    write_json(path, {"question": question, "superseded_by": None})


def rows_without_runs(out: str) -> list[str]:
  """The "<env> <cell>" of every cell in DIR/results.json whose metrics are not in DIR/runs/:
  results made where their run files were not kept, which a regeneration would drop."""
  rows = read_json(os.path.join(out, "results.json"), [])
  cells = dict.fromkeys((r["env"], r["reward"]) for r in rows)
  return [f"{env} {name}" for env, name in cells
          if not os.path.exists(os.path.join(out, "runs", env, name, "metrics.jsonl"))]


def mark_finished(cell, directory: str) -> None:
  write_json(os.path.join(directory, "finished.json"), {"train_args": cell.train_args()})


def is_finished(cell, directory: str) -> bool:
  """A finished marker written for these very training arguments."""
  marker = read_json(os.path.join(directory, "finished.json"), {})
  return marker.get("train_args") == cell.train_args()


# -- aggregation: metrics.jsonl -> rows -> table ----------------------------------------------

def cell_rows(metrics: list[dict], info: dict) -> list[dict]:
  """One results row per seed of a cell: `metrics` its metrics.jsonl rows, `info`
  its cell.json (spec, wall_s, device, jax_version, commit) plus `finished`."""
  by_seed = collections.defaultdict(list)
  for r in metrics:
    by_seed[r["seed"]].append(r)
  return [{"env": info["env"], "reward": info["cell"], "base_reward": info["reward"],
           "seed": seed, "preset": info["preset"], "overrides": info["overrides"],
           **seed_summary(rows), "finished": info["finished"], "wall_s": info["wall_s"],
           "seeds_in_job": len(info["seeds"]), "device": info["device"],
           "jax_version": info["jax_version"], "commit": info["commit"]}
          for seed, rows in sorted(by_seed.items())]


def _number(value, digits: int = 2) -> str:
  return "-" if value is None else f"{value:,.{digits}f}"


def markdown_table(rows: list[dict]) -> str:
  """One line per environment and cell (in the order of `rows`)."""
  cells = collections.defaultdict(list)
  for r in rows:
    cells[r["env"], r["reward"]].append(r)
  lines = ["| environment | cell | solved | steps to first success (median) | first success "
           f">= {SOLVED}: steps, wall (median) | final success (mean) | last 10% success (mean) "
           "| closest approach (median) | env steps | wall time | device |", "|" + "---|" * 11]
  for (env, name), group in cells.items():
    firsts = [r["first_success_steps"] for r in group if r["first_success_steps"] is not None]
    reached = [r for r in group if r["reached_steps"] is not None]
    walls = [r["reached_wall_s"] for r in reached if r["reached_wall_s"] is not None]
    at_level = (f"{statistics.median(r['reached_steps'] for r in reached):,.0f}"
                + (f", {statistics.median(walls) / 60:.1f} min" if walls else "")
                + (f" ({len(reached)} of {len(group)})" if len(reached) < len(group) else "")
                if reached else "-")
    steps = f"{min(r['env_steps'] for r in group):,d}"
    if not all(r["finished"] for r in group):
      steps += " (unfinished)"
    lines.append(" | ".join([
        f"| {env}", rewards.label(name), f"{sum(r['solved'] for r in group)} / {len(group)}",
        f"{statistics.median(firsts):,.0f}" if firsts else "-", at_level,
        _number(statistics.fmean(r["final_success"] for r in group)),
        _number(statistics.fmean(r["last10_success"] for r in group)),
        _number(statistics.median(r["closest_approach"] for r in group)), steps,
        f"{group[0]['wall_s'] / 60:.1f} min", f"{group[0]['device']} |"]))
  return "\n".join(lines)


def commits(rows: list[dict]) -> str:
  """The commits the rows ran at; where cells ran at different ones (a sweep resumed or
  merged later), each with its cells."""
  cells_at = collections.defaultdict(list)  # commit -> its cells, in row order
  several_envs = len({r["env"] for r in rows}) > 1
  for r in rows:
    name = f"{r['env']} {r['reward']}" if several_envs else r["reward"]
    if name not in cells_at[r["commit"]]:
      cells_at[r["commit"]].append(name)
  if len(cells_at) <= 1:
    return f"commit `{next(iter(cells_at), 'unknown')}`"
  return "commits " + ", ".join(f"`{c}` ({', '.join(names)})" for c, names in cells_at.items())


def markdown(rows: list[dict], cells: list, command: str) -> str:
  """results.md: the command, preset, budget and commits above the table."""
  budgets = sorted({c.total_env_steps for c in cells})
  missing = [f"{c.env} {c.name}" for c in cells
             if not any(r["env"] == c.env and r["reward"] == c.name for r in rows)]
  return "\n".join([
      "# Reproduction sweep", "", f"    {command}", "",
      f"Preset `{cells[0].preset}`, budget {' / '.join(f'{b:,d}' for b in budgets)} "
      f"environment steps per seed, {commits(rows)}.", "",
      f"Solved: final eval success >= {SOLVED} and mean eval success over the last "
      f"{LAST_FRACTION:.0%} of epochs >= {SOLVED}. Eval success is read at the last step of "
      "the deterministic evaluation episodes; steps to first success: the first epoch with "
      f"eval success > 0; first success >= {SOLVED}: the first epoch at the solved level, "
      "its env steps and the job's wall time there (compilation included; median over the "
      "seeds that reached it); closest approach: each evaluation episode's smallest distance to "
      "the goal over its steps, averaged over the episodes, smallest over the epochs.", "",
      markdown_table(rows), "",
      *([f"No metrics yet: {', '.join(missing)}.", ""] if missing else [])])


def write_results(out: str, cells: list, command: str) -> list[dict]:
  """Regenerates results.json, results.md, curves.png, the trajectory plots and
  configs/ from every cell's files; returns the rows."""
  from experiments.plot import SEEDS_REACHED, plot_panels, plot_run_trajectories
  from mural_jax.metrics import TRAJECTORIES
  rows, curves = [], collections.defaultdict(dict)
  for cell in cells:
    directory = workdir(out, cell)
    metrics = read_jsonl(os.path.join(directory, "metrics.jsonl"))
    info = read_json(os.path.join(directory, "cell.json"), None)
    if not metrics or info is None:
      continue
    rows += cell_rows(metrics, {**info, "finished": is_finished(cell, directory)})
    config = os.path.join(directory, "config.json")
    if os.path.exists(config):
      os.makedirs(os.path.join(out, "configs"), exist_ok=True)
      shutil.copyfile(config, os.path.join(out, "configs", f"{cell.env}_{cell.name}.json"))
    curves[cell.env][rewards.label(cell.name)] = metrics
    saved, png = (os.path.join(directory, TRAJECTORIES),
                  os.path.join(out, f"trajectories_{cell.env}_{cell.name}.png"))
    if os.path.exists(saved) and (not os.path.exists(png)
                                  or os.path.getmtime(png) < os.path.getmtime(saved)):
      plot_run_trajectories(directory, png, label=rewards.label(cell.name))
  write_json(os.path.join(out, "results.json"), rows)
  with open(os.path.join(out, "results.md"), "w") as f:
    f.write(markdown(rows, cells, command))
  if curves:
    plot_panels([panel for env, runs in curves.items() for panel in (
        (f"{env}: eval success rate", runs, "eval_success"),
        (f"{env}: seeds with eval success >= {SOLVED} so far", runs, SEEDS_REACHED))],
                os.path.join(out, "curves.png"))
  return rows
