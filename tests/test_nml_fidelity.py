"""Meta-training does what it is for, on a fixed toy data set; the fidelity benchmark's parts.

The toy case is a (32, 32) network with inner_lr 0.1 (inner_lr x width 3.2, a
sixth of the presets' ~20): there the untrained network's one step is far from
CNML and meta-training has to do the work. At the presets' step scale the
untrained step already does most of it (see experiments/nml_fidelity.py).
"""

import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import spearmanr

import envs
from envs.point_maze import _inside
from experiments import nml_fidelity as nf
from experiments import nml_fidelity_data as data
from experiments import nml_fidelity_report as report
from mural_jax.classifiers import meta_nml

ROOT = Path(__file__).resolve().parents[1]
TOY = meta_nml.Settings(hidden=(32, 32), inner_lr=0.1, pool_size=128, points_per_task=16,
                        num_tasks=32, meta_batch=8, query_weight=0.25)
CLF = meta_nml.Classifier(TOY, 2)
PASSES = 20
# Far, in-between and on-data queries.
QUERIES = jnp.array([[4.5, -4.5], [-4.5, 4.5], [0.2, 0.2], [-1.0, 1.0], [1.0, -1.0], [-1.0, -1.0],
                     [1.5, 1.5], [-2.5, -0.5], [0.8, 0.8], [-0.5, -1.5], [2.5, 2.5], [-2.0, -2.0]])


@pytest.fixture(scope="module")
def toy():
  """Success examples near (1.5, 1.5), visits around (-1, -1); the net untrained and trained.

  Both states hold the same pool (same key), so they are scored on the same data.
  """
  k_pos, k_neg, k_held, k_init, k_train, k_eval = jax.random.split(jax.random.key(0), 6)
  pos = jax.random.normal(k_pos, (150, 2)) * 0.15 + 1.5
  neg = jax.random.normal(k_neg, (500, 2)) * 0.5 - 1.0
  held_out = jax.random.normal(k_held, (32, 2)) * 0.5 - 1.0    # visited states, not in the pool
  state0 = CLF.init(k_init)
  untrained, _ = CLF.train(state0, pos, neg, k_train, 0)
  trained, _ = CLF.train(state0, pos, neg, k_train, PASSES)
  return state0, untrained, trained, held_out, k_eval


def test_meta_training_lowers_the_heldout_meta_loss_by_a_measured_amount(toy):
  """Measured on four seeds: 0.48-0.58 before, 0.08-0.12 after 20 passes (ratio 0.17-0.23)."""
  _, untrained, trained, held_out, key = toy
  loss = lambda s: nf.heldout_meta_loss(s.params, TOY, untrained.pool_x, untrained.pool_y,
                                        held_out, key)
  before, after = loss(untrained), loss(trained)
  assert before["heldout_meta_loss"] - after["heldout_meta_loss"] > 0.3, (before, after)
  assert after["heldout_meta_loss"] < 0.3 * before["heldout_meta_loss"], (before, after)
  # The step does part of the work at theta_0 already (0.56-0.67 without it) ...
  assert before["heldout_meta_loss"] < before["heldout_loss_at_theta0"]
  # ... and after meta-training it still improves on theta_0.
  assert after["heldout_meta_loss"] < after["heldout_loss_at_theta0"]


def test_meta_training_brings_meta_nml_closer_to_exact_cnml(toy):
  """Exact CNML of the same network (same init, L2 1, the pool plus the query at query_weight).

  Measured mean |p - p_CNML| on four seeds: 0.25-0.28 untrained, 0.10-0.13 after 20 passes.
  """
  state0, untrained, trained, _, key = toy
  x, y = untrained.pool_x, untrained.pool_y
  fitted = nf.cnml_base_fit(state0.params, x, y, l2=1.0, steps=300)
  p_cnml = nf.exact_cnml_probs(fitted, x, y, QUERIES, TOY.query_weight, l2=1.0, steps=300)
  err = lambda s: np.abs(nf.meta_nml_probs(CLF, s, QUERIES, key, 16) - p_cnml).mean()
  before, after = err(untrained), err(trained)
  assert before - after > 0.1, (before, after)
  assert after < 0.16, (before, after)


# -- the benchmark's data and metrics ----------------------------------------------------

def test_path_runs_from_start_to_goal_along_the_corridor():
  env = envs.make("zigzag_maze")
  ends = data.path_points(np.array([0.0, data.PATH_LENGTH]))
  np.testing.assert_allclose(ends, [np.asarray(env.start), np.asarray(env.goal)])
  s = np.linspace(0, data.PATH_LENGTH, 97)
  distance = np.asarray(jax.vmap(env.geodesic_distance)(jnp.asarray(data.path_points(s))))
  assert spearmanr(s, distance)[0] < -0.99       # along the path the goal comes nearer


@pytest.mark.parametrize("frontier", [3.0, 14.0, 22.0])
def test_corridor_visits_lie_in_free_space_up_to_the_frontier(frontier):
  env = envs.make("zigzag_maze")
  visits = data.corridor_visits(np.random.default_rng(0), 2000, frontier)
  assert not any(bool(_inside(jnp.asarray(v), env.boxes)) for v in visits[::10])
  assert np.all(np.abs(visits) <= 4)
  geodesic = jax.vmap(env.geodesic_distance)
  distance = np.asarray(geodesic(jnp.asarray(visits)))
  at_frontier, halfway = np.asarray(geodesic(jnp.asarray(data.path_points(
      np.array([frontier, frontier / 2])))))
  assert distance.min() > at_frontier - 1.0      # measured: >= at_frontier - 0.67
  assert np.median(distance) > halfway           # densest near the start


def test_path_metrics():
  s = np.arange(0.0, 24.1, 1.5)
  p = np.where(s <= 6, 0.01, 0.5)
  p[-1] = 1.0
  m = report.path_metrics(p, s, frontier=6.0)
  assert m["visited"] == pytest.approx(0.01) and m["unvisited"] == pytest.approx(0.5)
  assert m["goal"] == 1.0 and m["spearman"] > 0.8


@pytest.mark.parametrize("flag,bad,valid", [("presets", "gpu", "cpu, paper"),
                                            ("frontiers", "30", "(0, 24)"),
                                            ("passes", "-1", "integers >= 0"),
                                            ("inner_lr_scales", "x", "numbers > 0")])
def test_bad_flags_exit_2_naming_the_value_and_the_choices(flag, bad, valid):
  result = subprocess.run([sys.executable, "-m", "experiments.nml_fidelity", f"--{flag}={bad}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert result.returncode == 2, result.stderr
  assert repr(bad) in result.stderr and valid in result.stderr, result.stderr


def test_the_heldout_meta_loss_is_meta_nmls_own_task_loss(toy):
  """The study scores held-out tasks with the objective meta-training minimises: the mean
  of `meta_nml.task_loss` over both labels of each state, with the study's context draws."""
  _, untrained, trained, held_out, key = toy
  queries = jnp.concatenate([held_out, held_out])
  labels = jnp.repeat(jnp.arange(2, dtype=jnp.int32), held_out.shape[0])
  idx = jax.vmap(lambda k: jax.random.choice(k, TOY.pool_size, (TOY.context_size,),
                                             replace=False))(
      jax.random.split(key, queries.shape[0]))
  losses = jax.vmap(meta_nml.task_loss, (None, 0, 0, 0, None, None, None, None))(
      trained.params, queries, labels, idx, untrained.pool_x, untrained.pool_y, TOY,
      TOY.kernel_threshold)
  study = nf.heldout_meta_loss(trained.params, TOY, untrained.pool_x, untrained.pool_y,
                               held_out, key)
  np.testing.assert_allclose(study["heldout_meta_loss"], float(losses.mean()), rtol=1e-5)
