"""Multi-process runs on this machine: two processes joined by `jax.distributed` over
localhost (CPU collectives: gloo, JAX's default), one host device each, with a 2-seed
job split over both. They equal one process on two devices, write outputs from process
0 only, resume after SIGKILL, stop together on a signal to one of them, and fail in
bounded time when a process dies or cannot be reached."""

import os
import re
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

import jax

from experiments.configs import zigzag_maze
from mural_jax import training
from mural_jax.checkpoints import Checkpointer
from mural_jax.metrics import read_jsonl

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EPOCHS = 6  # of 100 steps (the tiny preset), a checkpoint after each
TIMEOUT_S = 20  # --distributed_timeout_s of these runs
_FLAGS = ["--config=experiments/configs/zigzag_maze.py:tiny", "--config.total_env_steps=600",
          "--config.num_seeds=2", "--config.mesh.seeds=2", "--config.quiet=True"]

# Runs experiments.train and logs, one line per call, every file or directory under the
# workdir that this process writes, creates, renames or removes from Python.
_AUDITED = """
import os, runpy, sys
workdir, log = os.path.abspath(sys.argv.pop(1)), open(sys.argv.pop(1), "w", buffering=1)
WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT
def audit(event, args):
  if event == "open":
    path, mode, flags = args
    if not (set(mode) & set("wax+") if isinstance(mode, str) else flags & WRITE):
      return
  elif event in ("os.mkdir", "os.remove", "os.rmdir", "shutil.rmtree", "os.rename"):
    path = args[1] if event == "os.rename" else args[0]
  else:
    return
  if isinstance(path, (str, bytes, os.PathLike)):
    path = os.path.abspath(os.fsdecode(path))
    if path.startswith(workdir + os.sep):
      log.write(f"{event} {os.path.relpath(path, workdir)}\\n")
sys.addaudithook(audit)
runpy.run_module("experiments.train", run_name="__main__", alter_sys=True)
"""


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


class _Process:
  """experiments.train on `devices` host devices, run under the `_AUDITED` hook; its
  stdout, stderr and audit log go to `logs/<name>.{out,err,written}`."""

  def __init__(self, workdir, logs, name, devices, *args):
    self.name, self.logs = name, logs
    os.makedirs(logs, exist_ok=True)
    self._files = [open(os.path.join(logs, f"{name}.{s}"), "w") for s in ("out", "err")]
    cache = jax.config.jax_compilation_cache_dir or ""
    self.popen = subprocess.Popen(
        [sys.executable, "-c", _AUDITED, str(workdir), os.path.join(logs, f"{name}.written"),
         *_FLAGS, f"--workdir={workdir}", f"--compilation_cache={cache}", *args],
        cwd=ROOT, stdout=self._files[0], stderr=self._files[1],
        env={**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"})

  def wait(self, timeout=300) -> int:
    """The exit status; kills the process if it has not ended within `timeout` s."""
    try:
      return self.popen.wait(timeout)
    finally:
      self.popen.kill()  # a no-op once it has ended
      for f in self._files:
        f.close()

  def read(self, suffix: str) -> str:
    with open(os.path.join(self.logs, f"{self.name}.{suffix}")) as f:
      return f.read()

  def printed(self) -> list:
    """Lines on stdout, without gloo's own "[Gloo] Rank i is connected ..." line."""
    return [l for l in self.read("out").splitlines() if not l.startswith("[Gloo]")]

  def written(self) -> list:
    """(event, path under the workdir) of every write this process made from Python."""
    return [tuple(line.split(" ", 1)) for line in self.read("written").splitlines()]


def _start_pair(workdir, logs, timeout_s=TIMEOUT_S):
  """Processes 0 and 1 of one distributed run, one host device each."""
  port = _free_port()
  return [_Process(workdir, logs, f"p{i}", 1, "--distributed", "--num_processes=2",
                   f"--coordinator_address=localhost:{port}", f"--process_id={i}",
                   f"--distributed_timeout_s={timeout_s}") for i in (0, 1)]


def _finish_pair(processes):
  statuses = [p.wait() for p in processes]
  assert statuses == [0, 0], "\n".join(p.read("err")[-3000:] for p in processes)


def _epochs(workdir) -> list:
  """The epochs of the complete checkpoints in `workdir`."""
  path = os.path.join(workdir, "checkpoints")
  return sorted(int(d) for d in os.listdir(path) if d.isdigit()) if os.path.isdir(path) else []


def _wait_for_checkpoint_after(epoch, workdir, processes):
  """Waits (while both processes run) until a checkpoint after `epoch` is complete."""
  deadline = time.monotonic() + 300
  while not any(e > epoch for e in _epochs(workdir)):
    assert all(p.popen.poll() is None for p in processes), "a process ended early"
    assert time.monotonic() < deadline, "no checkpoint within 300 s"
    time.sleep(0.05)


def _final(workdir):
  """The final state, restored in this process on one device (a checkpoint written by
  two processes is an ordinary one), as NumPy leaves; metrics without wall-clock time."""
  config = zigzag_maze.get_config("tiny")
  config.num_seeds = 2
  ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), config)
  assert ckpt.latest_epoch() == EPOCHS
  state = ckpt.restore(training.Trainer(config).abstract_state)
  ckpt.close()
  leaves = [np.asarray(jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)
                       else x) for x in jax.tree.leaves(state)]
  rows = [{k: v for k, v in r.items() if k != "wall_s"}
          for r in read_jsonl(os.path.join(workdir, "metrics.jsonl"))]
  return leaves, rows


def _assert_same_run(workdir, reference):
  leaves, rows = _final(workdir)
  ref_leaves, ref_rows = reference
  assert len(leaves) == len(ref_leaves)
  for a, b in zip(leaves, ref_leaves):
    np.testing.assert_array_equal(a, b)
  assert len(rows) == 2 * EPOCHS and rows == ref_rows


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
  """One process on two host devices with the same mesh: its final state and metrics."""
  workdir = tmp_path_factory.mktemp("single")
  single = _Process(workdir, workdir / "logs", "single", 2)
  assert single.wait() == 0, single.read("err")
  return _final(workdir)


def test_two_processes_equal_one(tmp_path, reference):
  workdir = tmp_path / "run"
  lead, other = processes = _start_pair(workdir, tmp_path / "logs")
  _finish_pair(processes)
  _assert_same_run(workdir, reference)
  assert lead.printed()[-1].startswith("result: zigzag_maze") and other.printed() == []
  # Process 0 writes metrics, plots, TensorBoard and the config, and lays out, writes the
  # metadata of and finalises (renames) every checkpoint; process 1 writes only its own
  # part of each checkpoint being written. (Array data is written by tensorstore, not
  # from Python: each process's shards land in its own ocdbt.process_<i>.)
  lead_paths = {path for _, path in lead.written()}
  assert {"metrics.jsonl", "config.json", "curves.png", "trajectories.png",
          "eval_trajectories.npz"} <= lead_paths
  assert any(path.startswith("tensorboard/events") for path in lead_paths)
  assert {path for event, path in lead.written() if event == "os.rename"} >= {
      f"checkpoints/{e}" for e in range(1, EPOCHS + 1)}
  own_part = re.compile(r"checkpoints/\d+\.orbax-checkpoint-tmp/.*/process_1")
  assert other.written() and all(own_part.fullmatch(path) for _, path in other.written())
  state = os.listdir(workdir / "checkpoints" / str(EPOCHS) / "state")
  assert {"ocdbt.process_0", "ocdbt.process_1"} <= set(state)


@pytest.mark.slow  # one process's SIGKILL resume is in the suite (test_checkpoints)
def test_sigkilled_processes_resume_exactly(tmp_path, reference):
  """Both processes SIGKILLed after the first checkpoint, then started again: both
  restore it, and the run ends as an uninterrupted one."""
  workdir = tmp_path / "run"
  processes = _start_pair(workdir, tmp_path / "logs1")
  _wait_for_checkpoint_after(0, workdir, processes)
  for p in processes:
    p.popen.send_signal(signal.SIGKILL)
  assert [p.wait() for p in processes] == [-signal.SIGKILL] * 2
  killed_at = max(_epochs(workdir))
  assert killed_at < EPOCHS
  processes = _start_pair(workdir, tmp_path / "logs2")
  _finish_pair(processes)
  assert f"resuming after epoch {killed_at}" in processes[0].printed()[0]
  _assert_same_run(workdir, reference)


@pytest.mark.slow
def test_dead_process_and_signal_to_one_process(tmp_path, reference):
  """A SIGKILLed process 1 makes process 0 stop with a clear error within
  --distributed_timeout_s; a SIGTERM to process 1 alone stops both after the same
  epoch, with a checkpoint; each time the same command resumes the run exactly."""
  workdir = tmp_path / "run"
  lead, other = processes = _start_pair(workdir, tmp_path / "logs1")
  _wait_for_checkpoint_after(0, workdir, processes)
  other.popen.send_signal(signal.SIGKILL)
  killed = time.monotonic()
  assert lead.wait() == 1 and time.monotonic() - killed < TIMEOUT_S
  assert "usually means that another process died" in lead.read("err")
  other.wait()

  lead, other = processes = _start_pair(workdir, tmp_path / "logs2")
  _wait_for_checkpoint_after(max(_epochs(workdir)), workdir, processes)
  other.popen.send_signal(signal.SIGTERM)
  assert [p.wait() for p in processes] == [128 + signal.SIGTERM] * 2
  stopped = [re.search(r"stopped by SIGTERM after epoch (\d+); checkpoint saved", p.read("err"))
             for p in processes]
  assert all(stopped), [p.read("err")[-2000:] for p in processes]
  epoch = int(stopped[0].group(1))
  assert int(stopped[1].group(1)) == epoch == max(_epochs(workdir)) < EPOCHS
  assert max(r["epoch"] for r in read_jsonl(workdir / "metrics.jsonl")) == epoch

  _finish_pair(_start_pair(workdir, tmp_path / "logs3"))
  _assert_same_run(workdir, reference)


def test_unreachable_coordinator_fails_clearly_in_bounded_time(tmp_path):
  started = time.monotonic()
  worker = _Process(tmp_path / "run", tmp_path, "p1", 1, "--distributed", "--num_processes=2",
                    f"--coordinator_address=localhost:{_free_port()}", "--process_id=1",
                    "--distributed_timeout_s=3")
  assert worker.wait(timeout=60) == 1
  assert time.monotonic() - started < 30  # 3 s, plus starting Python and importing JAX
  err = worker.read("err")
  assert "error: could not reach the coordinator localhost:" in err
  assert "within --distributed_timeout_s=3 s" in err and "Traceback" not in err


def test_missing_process_fails_in_bounded_time(tmp_path):
  """Process 0 alone: JAX gives up waiting for process 1 and aborts the process."""
  started = time.monotonic()
  lead = _Process(tmp_path / "run", tmp_path, "p0", 1, "--distributed", "--num_processes=2",
                  f"--coordinator_address=localhost:{_free_port()}", "--process_id=0",
                  "--distributed_timeout_s=3")
  assert lead.wait(timeout=60) != 0
  assert time.monotonic() - started < 30
  err = lead.read("err")
  assert "waiting up to 3 s for every process" in err and "DEADLINE_EXCEEDED" in err
