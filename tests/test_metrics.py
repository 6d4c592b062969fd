"""Per-seed metric rows."""

import numpy as np

from mural_jax.metrics import seed_rows


def test_seed_rows_split_seed_arrays_and_keep_shared_scalars():
  metrics = {"eval_success": np.array([0.0, 1.0]), "epoch": np.array([3, 3]), "wall_s": 12.5,
             "eval_trajectories": np.zeros((2, 4, 5, 2))}
  rows = seed_rows(metrics, [7, 8])
  assert rows == [{"eval_success": 0.0, "epoch": 3, "wall_s": 12.5, "seed": 7},
                  {"eval_success": 1.0, "epoch": 3, "wall_s": 12.5, "seed": 8}]
  assert seed_rows({"epoch": 3, "wall_s": 1.0}, [0]) == [{"epoch": 3, "wall_s": 1.0, "seed": 0}]
