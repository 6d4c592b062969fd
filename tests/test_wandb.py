"""Optional W&B logging: an offline run logs exactly TensorBoard's scalars, and a resumed
workdir continues the same W&B run. Nothing reaches the network."""

import glob
import json
import os
import struct
import sys
import time

import pytest

from experiments.configs import zigzag_maze
from mural_jax import runner
from mural_jax.metrics import WANDB_ID, MetricsWriter, WandB

OFFLINE = WandB(project="mural-test", mode="offline")


@pytest.fixture(autouse=True)
def _offline(tmp_path, monkeypatch):
  for name in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR"):
    monkeypatch.setenv(name, str(tmp_path / "wandb_home"))
  monkeypatch.setenv("WANDB_MODE", "offline")
  monkeypatch.setenv("WANDB_SILENT", "true")


def _config(total_env_steps: int, num_seeds: int = 1):
  c = zigzag_maze.get_config("tiny")
  c.update(total_env_steps=total_env_steps, num_seeds=num_seeds, quiet=True)
  return c


def _records(path: str):
  """The byte records of a TFRecord file (TensorBoard) or of a W&B transaction log
  (a LevelDB log: 32 KiB blocks of chunks with a 7-byte header after a 7-byte file
  header), read here so that the check is independent of both writers."""
  with open(path, "rb") as f:
    data = f.read()
  if path.endswith(".wandb"):
    pos, record = 7, b""
    while pos + 7 <= len(data):
      if 32768 - pos % 32768 < 7:  # a block's tail too short for a header is padding
        pos += 32768 - pos % 32768
        continue
      _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
      if kind == 0:
        break
      record += data[pos + 7:pos + 7 + length]
      pos += 7 + length
      if kind in (1, 4):  # a full record, or the last chunk of one
        yield record
        record = b""
  else:
    pos = 0
    while pos < len(data):
      (length,) = struct.unpack("<Q", data[pos:pos + 8])
      yield data[pos + 12:pos + 12 + length]
      pos += 16 + length


def _tensorboard(workdir) -> dict:
  """{step: {tag: value}} from the workdir's TensorBoard events."""
  from tensorboardX.proto.event_pb2 import Event
  steps = {}
  for path in glob.glob(os.path.join(workdir, "tensorboard", "events.*")):
    for record in _records(path):
      event = Event.FromString(record)
      for value in event.summary.value:
        steps.setdefault(event.step, {})[value.tag] = value.simple_value
  return steps


def _finished_run(path: str) -> list:
  """The records of a W&B transaction log, once it ends with the run's exit record:
  `run.finish()` can return before wandb's service has written the log (seen with
  wandb 0.30 in offline mode: the file header alone for some 0.1 s)."""
  from wandb.proto.wandb_internal_pb2 import Record
  deadline = time.monotonic() + 10
  while True:
    records = [Record.FromString(r) for r in _records(path)]
    if records and records[-1].WhichOneof("record_type") == "exit":
      return records
    assert time.monotonic() < deadline, f"{path} has no exit record"
    time.sleep(0.1)


def _wandb(workdir):
  """The workdir's offline W&B runs: their ids, the config of the first, and
  {step: {key: value}} of every logged history row (W&B's own `_` keys left out)."""
  ids, config, steps = set(), None, {}
  for path in sorted(glob.glob(os.path.join(workdir, "wandb", "offline-run-*", "*.wandb"))):
    for record in _finished_run(path):
      kind = record.WhichOneof("record_type")
      if kind == "run":
        ids.add(record.run.run_id)
        config = config or {u.key: json.loads(u.value_json) for u in record.run.config.update}
      elif kind == "history":
        row = {item.key or "/".join(item.nested_key): json.loads(item.value_json)
               for item in record.history.item}
        steps[row.pop("_step")] = {k: v for k, v in row.items() if not k.startswith("_")}
  return ids, config, steps


def _assert_same(wandb_steps: dict, tb_steps: dict):
  assert sorted(wandb_steps) == sorted(tb_steps)
  for step, tb in tb_steps.items():
    assert sorted(wandb_steps[step]) == sorted(tb), step
    assert wandb_steps[step] == pytest.approx(tb, rel=1e-6), step  # TensorBoard: float32


def test_offline_run_logs_tensorboards_scalars_and_a_resume_continues_it(tmp_path):
  workdir = str(tmp_path / "run")
  outcome = runner.run_workdir(_config(400), workdir, wandb=OFFLINE)
  assert outcome.files[4:] == (WANDB_ID, "wandb/")
  with open(os.path.join(workdir, WANDB_ID)) as f:
    run_id = f.read().strip()
  ids, config, steps = _wandb(workdir)
  assert ids == {run_id}
  assert config["env"] == "zigzag_maze" and config["total_env_steps"] == 400
  assert sorted(steps) == [100, 200, 300, 400]
  assert not any(k.startswith("seed_") for k in steps[400])
  # The mean over seeds is one seed's value: the same as its metrics.jsonl row.
  assert steps[400]["eval_success"] == outcome.rows[-1]["eval_success"]
  _assert_same(steps, _tensorboard(workdir))
  # A longer budget resumes the workdir: the same W&B run, two more epochs.
  runner.run_workdir(_config(600), workdir, wandb=OFFLINE)
  with open(os.path.join(workdir, WANDB_ID)) as f:
    assert f.read().strip() == run_id
  ids, _, steps = _wandb(workdir)
  assert ids == {run_id} and len(glob.glob(os.path.join(workdir, "wandb", "offline-run-*"))) == 2
  assert sorted(steps) == [100, 200, 300, 400, 500, 600]
  _assert_same(steps, _tensorboard(workdir))


def test_several_seeds_log_the_mean_and_each_seeds_curve(tmp_path):
  workdir = str(tmp_path / "run")
  outcome = runner.run_workdir(_config(200, num_seeds=2), workdir, wandb=OFFLINE)
  _, _, steps = _wandb(workdir)
  last = steps[200]
  assert {"eval_success", "seed_0/eval_success", "seed_1/eval_success"} <= set(last)
  assert {k.split("/", 1)[-1] for k in last} == {k for k in last if "/" not in k}
  by_seed = {r["seed"]: r for r in outcome.rows if r["env_steps"] == 200}
  assert last["seed_1/eval_distance"] == by_seed[1]["eval_distance"]
  assert last["eval_distance"] == pytest.approx(
      (by_seed[0]["eval_distance"] + by_seed[1]["eval_distance"]) / 2)
  _assert_same(steps, _tensorboard(workdir))


def test_a_bad_mode_is_named_and_a_missing_package_says_how_to_install(tmp_path, monkeypatch):
  with pytest.raises(ValueError, match="'onlin' is not one of online, offline, disabled"):
    WandB(project="mural-test", mode="onlin")
  monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` fails
  with pytest.raises(ImportError, match=r"pip install -e \.\[wandb\]"):
    MetricsWriter(str(tmp_path), [0], wandb=OFFLINE)
