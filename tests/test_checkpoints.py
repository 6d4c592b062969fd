"""Checkpoints: exact resume (also after SIGKILL at random points), config mismatch,
damaged checkpoints, write failures, keep-last-K."""

import os
import random
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import jax

from experiments.configs import zigzag_maze
from mural_jax import checkpoints, training
from mural_jax.checkpoints import Checkpointer, CheckpointError
from mural_jax.metrics import read_jsonl

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config(**overrides):
  c = zigzag_maze.get_config("tiny")
  for k, v in overrides.items():
    c[k] = v
  return c


def _arrays(state):
  """Every leaf as NumPy, typed keys as their raw data."""
  return [np.asarray(jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)
                     else x) for x in jax.tree.leaves(state)]


def _assert_same(a, b):
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(_arrays(a), _arrays(b)):
    np.testing.assert_array_equal(x, y)


def _saved(tmp_path, config, epochs=1):
  """A Trainer and a checkpointer holding its state after `epochs` epochs."""
  trainer = training.Trainer(config)
  state = trainer.init(trainer.keys())
  for _ in range(epochs):
    state, _ = trainer.run_epoch(state)
  ckpt = Checkpointer(tmp_path / "ckpt", config)
  ckpt.save(state, epochs)
  return trainer, state, ckpt


def test_restored_state_continues_bit_identically(tmp_path):
  config = _config(total_env_steps=300)
  trainer = training.Trainer(config)
  straight, history = training.run(trainer)
  ckpt = Checkpointer(tmp_path / "ckpt", config)
  training.run(trainer, callback=lambda m, s: ckpt.save(s, m["epoch"]) if m["epoch"] == 1 else None)
  resumed_trainer = training.Trainer(config)
  restored = Checkpointer(tmp_path / "ckpt", config).restore(resumed_trainer.abstract_state)
  assert int(restored.epoch) == 1 and restored.key.dtype == straight.key.dtype
  resumed, rest = training.run(resumed_trainer, state=restored)
  _assert_same(straight, resumed)
  scalars = lambda h: [{k: v for k, v in m.items() if k != "eval_trajectories"} for m in h]
  assert scalars(rest) == scalars(history[1:])


def test_zero_size_leaves_round_trip(tmp_path):
  # An MJX model without actuators has zero-size arrays in its mjx.Data.
  state = {"w": jax.numpy.arange(3.0), "empty": jax.numpy.zeros((0, 4), jax.numpy.int32),
           "key": jax.random.key(7)}
  ckpt = Checkpointer(tmp_path / "ckpt", _config())
  ckpt.save(state, 1)
  restored = ckpt.restore(jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), state))
  _assert_same(state, restored)
  assert restored["empty"].shape == (0, 4) and restored["empty"].dtype == jax.numpy.int32
  wrong = {**state, "empty": jax.ShapeDtypeStruct((0, 5), jax.numpy.int32)}
  with pytest.raises(CheckpointError, match=r"empty: \(0, 4\) int32 in the checkpoint"):
    ckpt.restore(jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), wrong))


def test_keeps_the_last_k(tmp_path):
  config = _config(keep_checkpoints=2)
  trainer, state, ckpt = _saved(tmp_path, config)
  for epoch in (2, 3):
    ckpt.save(state, epoch)
  assert sorted(os.listdir(tmp_path / "ckpt")) == ["2", "3"] and ckpt.latest_epoch() == 3


@pytest.mark.parametrize("field, value, message", [
    ("reward", "l2", "reward: 'mural' in the checkpoint, 'l2' now"),
    ("env", "spiral_maze", "env: 'zigzag_maze' in the checkpoint, 'spiral_maze' now"),
    ("replay_capacity", 500, "replay_capacity: 1000 in the checkpoint, 500 now"),
])
def test_checkpoint_of_another_config_is_refused(tmp_path, field, value, message):
  _saved(tmp_path, _config())
  other = _config(**{field: value})
  with pytest.raises(CheckpointError, match="different config: " + message):
    Checkpointer(tmp_path / "ckpt", other).restore(training.Trainer(other).abstract_state)


def test_leaf_shape_mismatch_is_named(tmp_path):
  """Also a state that changed under an unchanged config (e.g. new environment code)."""
  config = _config()
  _saved(tmp_path, config)
  wider = training.Trainer(_config(num_envs=4)).abstract_state
  ckpt = Checkpointer(tmp_path / "ckpt", config)
  ckpt._check_config = lambda saved, where: None  # pretend the config is unchanged
  with pytest.raises(CheckpointError, match=r"env_state.obs: \(2, 2\) float32 in the checkpoint, "
                                            r"\(4, 2\) float32 now"):
    ckpt.restore(wider)


def test_checkpoint_of_an_older_format_is_refused_with_advice(tmp_path, monkeypatch):
  config = _config()
  trainer, _, _ = _saved(tmp_path, config)
  monkeypatch.setattr(checkpoints, "FORMAT", checkpoints.FORMAT + 1)  # a newer mural_jax
  with pytest.raises(CheckpointError, match=rf"has format {checkpoints.FORMAT - 1}; this "
                                            rf"version of mural_jax reads format "
                                            rf"{checkpoints.FORMAT} .* Start a new workdir"):
    Checkpointer(tmp_path / "ckpt", config).restore(trainer.abstract_state)


def test_damaged_metadata_is_refused(tmp_path):
  config = _config()
  trainer, state, ckpt = _saved(tmp_path, config)
  open(os.path.join(tmp_path, "ckpt", "1", "meta", "metadata"), "w").write("{not json")
  with pytest.raises(CheckpointError, match="checkpoint of epoch 1 in .* is damaged"):
    Checkpointer(tmp_path / "ckpt", config).restore(trainer.abstract_state)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
  """A workdir of a finished one-epoch run (written by another process: this one's
  storage cache would hide damage to files it wrote)."""
  workdir = tmp_path_factory.mktemp("finished")
  proc = _train(workdir, "--config.total_env_steps=100")
  assert proc.wait(timeout=300) == 0, proc.stderr.read()
  return workdir


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_damaged_array_data_is_refused(finished_run, tmp_path, damage):
  workdir = tmp_path / "run"
  shutil.copytree(finished_run, workdir)
  for d, _, files in os.walk(workdir / "checkpoints" / "1" / "state"):
    for name in files if os.path.basename(d) == "d" else ():  # the array data (OCDBT) files
      path = os.path.join(d, name)
      data = bytearray(open(path, "rb").read())
      if damage == "flip":
        data[len(data) // 2] ^= 0xFF
      else:
        data = data[:len(data) // 2]
      open(path, "wb").write(bytes(data))
  proc = _train(workdir, "--config.total_env_steps=100")
  out, err = proc.communicate(timeout=300)
  assert proc.returncode == 2, err
  # The storage library may also print tracebacks of its other, cancelled reads.
  assert "error: The checkpoint of epoch 1 in" in err and "is damaged" in err


_FULL_DISK = """
import resource, signal, sys
import jax
from experiments.configs import zigzag_maze
from mural_jax import training
from mural_jax.checkpoints import Checkpointer, CheckpointError
config = zigzag_maze.get_config("tiny")
trainer = training.Trainer(config)
state = trainer.init(trainer.keys())
ckpt = Checkpointer(sys.argv[1], config)
ckpt.save(state, 1)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (1024, resource.RLIM_INFINITY))
try:
  ckpt.save(state, 2)
except CheckpointError as e:
  print(e)
resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
restored = Checkpointer(sys.argv[1], config).restore(trainer.abstract_state)
print("restored epoch", Checkpointer(sys.argv[1], config).latest_epoch(), int(restored.epoch))
"""


def test_full_disk_keeps_the_previous_checkpoint(tmp_path):
  """A file-size limit makes every large write fail as on a full disk."""
  result = subprocess.run([sys.executable, "-c", _FULL_DISK, str(tmp_path / "ckpt")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr
  assert "Could not write the checkpoint of epoch 2" in result.stdout
  assert "Last checkpoint: epoch 1 is intact" in result.stdout
  assert "restored epoch 1 0" in result.stdout


# -- the runner: kill it anywhere, run it again, get the same run -----------------------------
_FLAGS = ["--config=experiments/configs/zigzag_maze.py:tiny", "--config.total_env_steps=800",
          "--config.keep_checkpoints=2", "--config.quiet=True"]


def _train(workdir, *args):
  return subprocess.Popen([sys.executable, "-m", "experiments.train", *_FLAGS, *args,
                           f"--workdir={workdir}"], cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


def _rows(workdir):
  try:
    return len(read_jsonl(os.path.join(workdir, "metrics.jsonl")))
  except (OSError, ValueError):
    return 0


def _interrupt(workdir, rng, signum):
  """Starts the runner and sends `signum` once it has written a random number of
  epochs, plus a random delay (so also while it writes a checkpoint)."""
  proc = _train(workdir)
  target = rng.randint(0, 6)
  while proc.poll() is None and _rows(workdir) < target:
    time.sleep(0.02)
  time.sleep(rng.uniform(0.0, 0.3))
  if proc.poll() is None:
    proc.send_signal(signum)
  out, err = proc.communicate(timeout=300)
  return proc.returncode, err


def _final(workdir):
  config = _config(total_env_steps=800, keep_checkpoints=2, quiet=True)
  ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), config)
  assert ckpt.latest_epoch() == 8
  state = ckpt.restore(training.Trainer(config).abstract_state)
  rows = read_jsonl(os.path.join(workdir, "metrics.jsonl"))
  walls = [r["wall_s"] for r in rows]  # counts on across resumes
  assert walls[0] > 0 and walls == sorted(walls)
  return state, [{k: v for k, v in r.items() if k != "wall_s"} for r in rows]  # all but time


def _resume_trials(tmp_path, trials, kills_per_trial):
  reference = _train(tmp_path / "reference")
  assert reference.wait(timeout=300) == 0, reference.stderr.read()
  ref_state, ref_metrics = _final(tmp_path / "reference")
  rng = random.Random(1234)
  for trial in range(trials):
    workdir = tmp_path / f"trial{trial}"
    for _ in range(kills_per_trial):
      _interrupt(workdir, rng, signal.SIGKILL)
    finish = _train(workdir)
    assert finish.wait(timeout=300) == 0, finish.stderr.read()
    state, metrics = _final(workdir)
    _assert_same(ref_state, state)
    assert metrics == ref_metrics


def test_sigkilled_runs_resume_exactly(tmp_path):
  _resume_trials(tmp_path, trials=2, kills_per_trial=1)


@pytest.mark.slow
def test_sigkilled_runs_resume_exactly_many_trials(tmp_path):
  _resume_trials(tmp_path, trials=5, kills_per_trial=3)


def test_ctrl_c_saves_a_checkpoint_and_exits_cleanly(tmp_path):
  rng = random.Random(0)
  status, err = _interrupt(tmp_path, rng, signal.SIGINT)
  assert status == 130, err
  assert "Traceback" not in err and "checkpoint saved" in err
  epoch = Checkpointer(tmp_path / "checkpoints", _config()).latest_epoch()
  assert epoch == _rows(tmp_path) and epoch >= 1
