"""Whole-TrainState checkpoints with orbax: exact resume, or a clear error.

A checkpoint (one directory per saved epoch, the latest `keep` kept) holds two
items: ``state``, every leaf of the TrainState under its dotted name (typed PRNG
keys as their raw uint32 data), and ``meta`` (JSON): the config, and each
leaf's shape, dtype, key implementation and a checksum. orbax writes into a
temporary directory and renames it when complete, so a crash or a full disk
never leaves a half-written checkpoint in place of a good one.

Restoring checks the config and every leaf against the run being resumed and
the checksums against the data read, and raises `CheckpointError` naming what
differs or is damaged; it never falls back to a fresh start.
"""

import json
import os
from typing import Optional

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

from mural_jax.config import RunConfig
from mural_jax.trees import named_leaves

FORMAT = 1
# Fields that may change between a checkpoint and its resume: they do not change
# what the state holds or how an epoch computes it.
RESUMABLE_FIELDS = ("total_env_steps", "checkpoint_every", "keep_checkpoints",
                    "log_every_epochs", "quiet", "stop_when_solved", "mesh.seeds",
                    "mesh.data", "mesh.seed_batch")


class CheckpointError(Exception):
  """A checkpoint cannot be written, does not fit this run, or is damaged."""


def _brief(error: Exception) -> str:
  """The first line of a (storage library's often very long) error message."""
  line = (str(error).strip().splitlines() or [type(error).__name__])[0]
  return line if len(line) <= 240 else line[:240] + "..."


def _is_key(x) -> bool:
  return jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def _flat_config(config) -> dict:
  """Dotted field -> JSON value (tuples become lists, as in the saved copy)."""
  flat = {}
  def walk(d, prefix):
    for k, v in d.items():
      if isinstance(v, dict):
        walk(v, prefix + k + ".")
      else:
        flat[prefix + k] = v
  walk(json.loads(RunConfig.of(config).to_json()), "")
  return flat


@jax.jit
def _checksums(arrays: dict) -> dict:
  """Sum of each array's 32-bit words (or elements), mod 2^32: exact in any order."""
  def words(x):
    x = jnp.asarray(x)
    if x.dtype.itemsize == 4:
      return jax.lax.bitcast_convert_type(x, jnp.uint32)
    return x.astype(jnp.uint32)
  return {name: jnp.sum(words(x), dtype=jnp.uint32) for name, x in arrays.items()}


def _host_checksums(arrays: dict) -> dict:
  return {name: int(v) for name, v in jax.device_get(_checksums(arrays)).items()}


class Checkpointer:
  """Saves and restores the TrainState of `config` in `directory`."""

  def __init__(self, directory: str, config, keep: Optional[int] = None):
    self.directory = os.path.abspath(directory)
    self.config = config
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(
            max_to_keep=keep or config.keep_checkpoints, create=True,
            enable_async_checkpointing=False, cleanup_tmp_directories=True))

  def latest_epoch(self) -> Optional[int]:
    """The epoch of the newest complete checkpoint, None if there is none."""
    return self._manager.latest_step()

  def save(self, state, epoch: int) -> None:
    """Writes `state` (after `epoch` epochs). Raises CheckpointError if it cannot,
    leaving the previous checkpoints as they were."""
    if epoch in self._manager.all_steps():
      return
    leaves = named_leaves(state)
    # Zero-size leaves (e.g. an MJX model without actuators) hold no data: only
    # their shape and dtype are kept, in the metadata.
    arrays = {n: jax.random.key_data(x) if _is_key(x) else x for n, x in leaves.items()
              if x.size}
    meta = {"format": FORMAT, "epoch": epoch, "config": _flat_config(self.config),
            "leaves": {n: {"shape": list(x.shape), "dtype": str(x.dtype),
                           "key_impl": str(jax.random.key_impl(x)) if _is_key(x) else None}
                       for n, x in leaves.items()},
            "checksums": _host_checksums(arrays)}
    previous = self.latest_epoch()
    try:
      self._manager.save(epoch, args=ocp.args.Composite(
          state=ocp.args.StandardSave(arrays), meta=ocp.args.JsonSave(meta)))
      self._manager.wait_until_finished()
    except jax.errors.JaxRuntimeError:  # a barrier of a distributed run failed: not storage
      raise
    except Exception as e:  # orbax/tensorstore report I/O failures with many types
      kept = "no earlier checkpoint" if previous is None else f"epoch {previous} is intact"
      raise CheckpointError(
          f"Could not write the checkpoint of epoch {epoch} to {self.directory} "
          f"(disk full or not writable?): {_brief(e)}. Last checkpoint: {kept}.") from e

  def restore(self, abstract_state, epoch: Optional[int] = None):
    """The state saved at `epoch` (default: latest), laid out like `abstract_state`
    (ShapeDtypeStructs with shardings, e.g. `Trainer.abstract_state`)."""
    epoch = self.latest_epoch() if epoch is None else epoch
    where = f"checkpoint of epoch {epoch} in {self.directory}"
    try:
      meta = self._manager.restore(
          epoch, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta
      saved_format = meta["format"]
    except Exception as e:
      raise CheckpointError(f"The {where} is damaged or unreadable ({_brief(e)}). Delete that "
                            "directory to resume from an earlier checkpoint.") from e
    if saved_format != FORMAT:
      raise CheckpointError(
          f"The {where} has format {saved_format}; this version of mural_jax reads format "
          f"{FORMAT} and does not convert older checkpoints. Start a new workdir, or resume "
          "with the version that wrote it.")
    self._check_config(meta["config"], where)
    expected = named_leaves(abstract_state)
    self._check_leaves(meta["leaves"], expected, where)

    targets = {n: jax.ShapeDtypeStruct(jax.eval_shape(jax.random.key_data, s).shape,
                                       jnp.uint32, sharding=s.sharding) if _is_key(s) else s
               for n, s in expected.items() if s.size}
    try:
      arrays = self._manager.restore(
          epoch, args=ocp.args.Composite(state=ocp.args.StandardRestore(targets))).state
    except jax.errors.JaxRuntimeError:  # as in save: another process is gone, not the data
      raise
    except Exception as e:
      raise CheckpointError(f"The {where} is damaged or unreadable ({_brief(e)}). Delete that "
                            "directory to resume from an earlier checkpoint.") from e
    sums = _host_checksums(arrays)
    damaged = [n for n in targets if sums[n] != meta["checksums"][n]]
    if damaged:
      raise CheckpointError(f"The {where} is damaged: checksum mismatch in "
                            f"{', '.join(damaged)}. Delete that directory to resume from an "
                            "earlier checkpoint.")
    leaves = [jax.device_put(jnp.zeros(s.shape, s.dtype), s.sharding) if not s.size
              else jax.random.wrap_key_data(arrays[n], impl=meta["leaves"][n]["key_impl"])
              if _is_key(s) else arrays[n] for n, s in expected.items()]
    return jax.tree.unflatten(jax.tree.structure(abstract_state), leaves)

  def _check_config(self, saved: dict, where: str) -> None:
    now = _flat_config(self.config)
    diffs = [f"{k}: {saved.get(k, '<absent>')!r} in the checkpoint, {now.get(k, '<absent>')!r} now"
             for k in sorted(set(saved) | set(now))
             if k not in RESUMABLE_FIELDS and saved.get(k) != now.get(k)]
    if diffs:
      raise CheckpointError(f"The {where} was written by a different config: "
                            f"{'; '.join(diffs)}. Use another workdir, or the checkpoint's "
                            "config.")

  @staticmethod
  def _check_leaves(saved: dict, expected: dict, where: str) -> None:
    diffs = [f"{n}: absent in the checkpoint" for n in expected if n not in saved]
    diffs += [f"{n}: in the checkpoint only" for n in saved if n not in expected]
    diffs += [f"{n}: {tuple(saved[n]['shape'])} {saved[n]['dtype']} in the checkpoint, "
              f"{s.shape} {s.dtype} now" for n, s in expected.items()
              if n in saved and (tuple(saved[n]["shape"]) != s.shape
                                 or saved[n]["dtype"] != str(s.dtype))]
    if diffs:
      raise CheckpointError(f"The {where} does not fit this run's state: {'; '.join(diffs)}.")

  def close(self) -> None:
    self._manager.close()
