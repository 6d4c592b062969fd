"""The index of results/: one table of every results folder, regenerated from its files.

  python -m experiments.results_index [--root=results]

Walks ROOT for every results.json (a reproduction sweep's rows: experiments.reproduce)
and rewrites ROOT/README.md with a row per folder: its question and status (current, or
superseded by which folder) from the hand-written about.json beside results.json,
`{"question": "...", "superseded_by": "<folder relative to ROOT>" or null}`, and from
the rows its environments, cells, seeds, preset, budget, commits, device and solved
seeds per cell. A second table lists the folders that hold other data (a single run's
metrics.jsonl, a study's own json). The index is generated so that it cannot drift from
the folders it describes. Bad input (a file that does not parse, a superseded_by naming
no folder) exits 2 naming the file.
"""

import collections
import json
import os
import pathlib

from absl import app, flags

from experiments import cli

INDEX = "README.md"
DATA = (".json", ".jsonl")   # what makes a folder without results.json worth listing

HEADER = """# Results

Each folder is one experiment's committed output: a reproduction sweep's `results.json`
(one row per environment, cell and seed), `results.md` (its command and table), curves
and trajectories and `configs/` (each cell's resolved config, where the sweep wrote
them), or a single run's or a study's own files. `about.json`, by hand or from
`experiments.reproduce --question`, says what a folder asks and which folder supersedes
it. This page is generated: `python -m experiments.results_index` rewrites it from those
files. What the results mean: [docs/results](../docs/results/); superseded figures:
[the log](../docs/log.md).

Solved: seeds of a finished cell with eval success >= 0.9 at the end and over the last
10 % of epochs ([the rule](../docs/metrics.md#the-solved-rule)). Budget: environment steps
per seed; an unfinished cell shows where it stopped.
"""


def _load(path: str):
  """The JSON in `path`; ValueError naming the file if it does not parse."""
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError) as e:
    raise ValueError(f"{path}: {e}") from None


def walk(root: str) -> tuple[list[str], dict[str, list[str]]]:
  """The folders under `root` (relative, sorted) that hold a results.json, and the
  others that hold data files, each with their names (and README.md). Skips sweeps' cell workdirs
  (runs/, not committed) and their copied configs/."""
  sweeps, others = [], {}
  for directory, subdirs, files in os.walk(root):
    subdirs[:] = sorted(d for d in subdirs if d != "runs" and not (
        d == "configs" and "results.json" in files))
    folder = pathlib.Path(os.path.relpath(directory, root)).as_posix()
    if "results.json" in files:
      sweeps.append(folder)
    elif any(f.endswith(DATA) for f in files):
      others[folder] = (sorted(f for f in files if f.endswith(DATA))
                        + [f for f in ("README.md",) if f in files])
  return sweeps, others


def read_about(path: str) -> dict:
  """The folder's about.json (question and superseded_by, None where absent)."""
  file = os.path.join(path, "about.json")
  about = _load(file) if os.path.exists(file) else {}
  if not isinstance(about, dict) or set(about) - {"question", "superseded_by"}:
    raise ValueError(f'{file}: expected {{"question": "...", "superseded_by": "<folder>" '
                     "or null}")
  return {"question": about.get("question"), "superseded_by": about.get("superseded_by")}


def _planned_steps(path: str, env: str, cell: str, row: dict):
  """A cell's budget as configured: its copied config, else a total_env_steps override
  of the sweep, else None (the preset's, not recorded in older folders)."""
  config = os.path.join(path, "configs", f"{env}_{cell}.json")
  if os.path.exists(config):
    return _load(config)["total_env_steps"]
  values = [o.partition("=")[2] for o in row["overrides"]
            if o.partition("=")[0].strip() == "total_env_steps"]
  return int(values[-1]) if values else None


def folder_row(root: str, folder: str) -> dict:
  """The index's row of `folder` (relative to `root`): about.json's fields, and from
  results.json the environments, cells, presets, commits and devices in order of
  appearance, and per cell (labelled by its reward, prefixed with its environment in a
  folder of several) its seeds, budget and (solved, seeds)."""
  path = os.path.join(root, folder)
  results = os.path.join(path, "results.json")
  rows = _load(results)
  try:
    cells = collections.defaultdict(list)
    for r in rows:
      cells[r["env"], r["reward"]].append(r)
    envs = list(dict.fromkeys(env for env, _ in cells))
    label = lambda env, cell: cell if len(envs) == 1 else f"{env} {cell}"
    seeds, budget, solved = {}, {}, {}
    for (env, cell), group in cells.items():
      name = label(env, cell)
      finished = all(r["finished"] for r in group)
      steps, planned = min(r["env_steps"] for r in group), _planned_steps(path, env, cell,
                                                                          group[0])
      seeds[name] = str(len(group))
      budget[name] = f"{steps:,d}" if finished else (
          f"{steps:,d}" + (f" of {planned:,d}" if planned else "") + " (unfinished)")
      solved[name] = (sum(bool(r["solved"] and r["finished"]) for r in group), len(group))
    unique = lambda key: list(dict.fromkeys(r[key] for r in rows))
    return {"folder": folder, **read_about(path), "envs": envs,
            "cells": list(dict.fromkeys(cell for _, cell in cells)), "seeds": seeds,
            "presets": unique("preset"), "budget": budget, "commits": unique("commit"),
            "devices": unique("device"), "solved": solved}
  except (KeyError, TypeError, AttributeError) as e:
    raise ValueError(f"{results}: not a sweep's rows ({type(e).__name__}: {e})") from None


def check_superseded(root: str, rows: list[dict]) -> None:
  """Raises ValueError naming each about.json whose superseded_by is not a folder
  under `root`."""
  bad = [f"{os.path.join(root, r['folder'], 'about.json')}: superseded_by "
         f"{r['superseded_by']!r} is not a folder under {root}" for r in rows
         if r["superseded_by"] is not None and not (
             isinstance(r["superseded_by"], str) and r["superseded_by"].strip("/")
             and os.path.isdir(os.path.join(root, r["superseded_by"])))]
  if bad:
    raise ValueError("\n".join(bad))


def _link(folder: str) -> str:
  return f"[{folder}]({folder}/)"


def _text(value) -> str:
  """A table cell: `|` escaped, "-" for nothing."""
  return str(value).replace("|", "\\|").replace("\n", " ") if value else "-"


def _per_cell(values: dict) -> str:
  """One value if every cell has it, else `cell value` for each."""
  distinct = set(values.values())
  return (distinct.pop() if len(distinct) == 1
          else ", ".join(f"{cell} {value}" for cell, value in values.items()))


def markdown(rows: list[dict], others: dict[str, list[str]]) -> str:
  """README.md of the results root: the header, a row per results folder, then the
  folders with other data."""
  lines = [HEADER, "| folder | question | environment | rewards | seeds | preset | budget "
           "| commit | device | solved | status |", "|" + "---|" * 11]
  for r in rows:
    status = ("current" if r["superseded_by"] is None
              else f"superseded by {_link(r['superseded_by'].strip('/'))}")
    if not r["cells"]:
      status = "no results yet: running, or stopped before a cell's first epoch"
    lines.append("| " + " | ".join(field or "-" for field in [
        _link(r["folder"]), _text(r["question"]), ", ".join(r["envs"]),
        ", ".join(r["cells"]), _per_cell(r["seeds"]), ", ".join(r["presets"]),
        _per_cell(r["budget"]), ", ".join(r["commits"]), ", ".join(r["devices"]),
        ", ".join(f"{cell} {n}/{total}" for cell, (n, total) in r["solved"].items()),
        status]) + " |")
  if others:
    lines += ["", "Folders without results.json (single runs, studies with their own files):",
              "", "| folder | holds |", "|---|---|"]
    lines += [f"| {_link(folder)} | " + ", ".join(
        f"[{f}]({folder}/{f})" if f == "README.md" else f"`{f}`" for f in files) + " |"
              for folder, files in others.items()]
  return "\n".join(lines) + "\n"


def define_flags():
  """This command's flags (defined when it runs: importing the module defines none)."""
  flags.DEFINE_string("root", "results", "The results folder to index; its README.md is "
                      "rewritten.")


def main(argv):
  if len(argv) > 1:
    cli.fail(f"unexpected arguments: {' '.join(argv[1:])}")
  root = flags.FLAGS.root
  if not os.path.isdir(root):
    cli.fail(f"--root {root!r} is not a directory.")
  try:
    sweeps, others = walk(root)
    rows = [folder_row(root, folder) for folder in sweeps]
    check_superseded(root, rows)
  except ValueError as e:
    cli.fail(str(e))
  path = os.path.join(root, INDEX)
  with open(path, "w") as f:
    f.write(markdown(rows, others))
  print(f"{path}: {len(rows)} results folders, {len(others)} other folders")


if __name__ == "__main__":
  define_flags()
  app.run(main, flags_parser=cli.parse_flags)
