"""Exact CNML against closed forms (tabular) and scikit-learn refits (logistic)."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from mural_jax.classifiers import cnml, common


def _tabular_data(rng, num_cells, n):
  """Random cells with labels; cell 0 is never visited, cell 1 only by negatives."""
  cells = rng.integers(2, num_cells, n)
  labels = rng.integers(0, 2, n)
  cells = np.concatenate([cells, [1, 1, 1]])
  labels = np.concatenate([labels, [0, 0, 0]])
  n1 = np.bincount(cells[labels == 1], minlength=num_cells)
  n0 = np.bincount(cells[labels == 0], minlength=num_cells)
  return cells, labels, n1, n0


def _tabular_cnml_by_training(cells, labels, weights, num_cells, query_weight):
  x = jnp.eye(num_cells)[cells]
  return cnml.cnml_probs(cnml.linear_log_probs, cnml.linear_params(num_cells, intercept=False),
                         x, jnp.asarray(labels), jnp.asarray(weights, jnp.float32),
                         jnp.eye(num_cells), query_weight=query_weight)


def test_tabular_cnml_is_laplace_rule():
  rng = np.random.default_rng(0)
  cells, labels, n1, n0 = _tabular_data(rng, 8, 60)
  p, z = _tabular_cnml_by_training(cells, labels, np.ones(len(cells)), 8, 1.0)
  np.testing.assert_allclose(p, (n1 + 1) / (n1 + n0 + 2), atol=1e-6)
  assert p[0] == pytest.approx(0.5, abs=1e-6)                    # unvisited
  assert p[1] == pytest.approx(1 / 5, abs=1e-6)                   # visited 3 times, no success
  np.testing.assert_allclose(z, (n1 + n0 + 2) / (n1 + n0 + 1), atol=1e-5)


@pytest.mark.parametrize("query_weight,w1,w0", [(0.3, 2.0, 0.5), (2.0, 1.0, 0.25)])
def test_weighted_tabular_cnml(query_weight, w1, w0):
  rng = np.random.default_rng(1)
  cells, labels, n1, n0 = _tabular_data(rng, 8, 60)
  weights = np.where(labels == 1, w1, w0)
  p, _ = _tabular_cnml_by_training(cells, labels, weights, 8, query_weight)
  expected = (w1 * n1 + query_weight) / (w1 * n1 + w0 * n0 + 2 * query_weight)
  np.testing.assert_allclose(p, expected, atol=1e-6)
  closed = cnml.tabular_cnml(jnp.asarray(n1, jnp.float32), jnp.asarray(n0, jnp.float32),
                             jnp.arange(8), query_weight, w1, w0)
  np.testing.assert_allclose(closed, expected, rtol=1e-6)


def test_grid_counts_closed_form_matches_histogram_and_training():
  rng = np.random.default_rng(2)
  low, high, res = -4.0, 4.0, 5
  pos = rng.uniform(1, 4, (30, 2)).astype(np.float32)
  neg = rng.normal(-1.5, 1.2, (200, 2)).clip(-3.99, 3.99).astype(np.float32)
  queries = rng.uniform(-4, 4, (40, 2)).astype(np.float32)
  p = cnml.count_probs(pos, neg, queries, low, high, res)

  edges = np.linspace(low, high, res + 1)
  n1 = np.histogramdd(pos, bins=(edges, edges))[0]
  n0 = np.histogramdd(neg, bins=(edges, edges))[0]
  qi = np.clip(np.searchsorted(edges, queries, side="right") - 1, 0, res - 1)
  a, b = n1[qi[:, 0], qi[:, 1]], n0[qi[:, 0], qi[:, 1]]
  np.testing.assert_allclose(p, (a + 1) / (a + b + 2), rtol=1e-6)

  cells = cnml.grid_cells(jnp.concatenate([jnp.asarray(neg), jnp.asarray(pos)]), low, high, res)
  labels = np.concatenate([np.zeros(len(neg), int), np.ones(len(pos), int)])
  trained, _ = _tabular_cnml_by_training(np.asarray(cells), labels, np.ones(len(labels)),
                                         res * res, 1.0)
  np.testing.assert_allclose(p, trained[cnml.grid_cells(queries, low, high, res)], atol=1e-6)


def _sklearn_cnml(x, y, w, queries, l2, query_weight):
  """p_CNML(1 | q) from two scikit-learn refits per query (float64)."""
  x, queries = x.astype(np.float64), queries.astype(np.float64)
  out = []
  for q in queries:
    own = []
    for label in (0, 1):
      model = LogisticRegression(C=1.0 / l2, tol=1e-10, max_iter=10_000)
      model.fit(np.vstack([x, q]), np.append(y, label), sample_weight=np.append(w, query_weight))
      own.append(model.predict_proba(q[None])[0, label])
    out.append(own[1] / sum(own))
  return np.array(out)


@pytest.mark.parametrize("seed,l2,query_weight", [(0, 1.0, 1.0), (1, 0.1, 0.5), (2, 3.0, 2.0)])
def test_logistic_cnml_matches_sklearn_refits(seed, l2, query_weight):
  """J = sum_i w_i CE_i + l2/2 |w|^2 (intercept free) is sklearn's objective with C = 1/l2."""
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(40, 2)).astype(np.float32)
  y = (x @ np.array([1.0, -0.5]) + 0.7 * rng.normal(size=40) > 0.2).astype(np.int32)
  w = rng.uniform(0.3, 2.0, 40).astype(np.float32)
  inside = x[rng.choice(40, 3)] * 0.5
  outside = np.array([[4.0, 4.0], [-5.0, 1.0], [0.0, -6.0]], np.float32)
  queries = np.concatenate([inside, outside])
  p, z = cnml.cnml_probs(cnml.linear_log_probs, cnml.linear_params(2), x, y, w, queries,
                         l2=l2, query_weight=query_weight)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    expected = _sklearn_cnml(x, y, w, queries, l2, query_weight)
  np.testing.assert_allclose(p, expected, atol=2e-5)
  assert np.all((np.asarray(z) >= 1 - 1e-6) & (np.asarray(z) <= 2 + 1e-6))


def test_label_swap_maps_p_to_one_minus_p():
  rng = np.random.default_rng(3)
  x = rng.normal(size=(30, 2)).astype(np.float32)
  y = (x[:, 0] > 0).astype(np.int32)
  y[:3] = 1 - y[:3]
  w = np.ones(30, np.float32)
  queries = rng.normal(size=(6, 2)).astype(np.float32) * 2
  run = lambda labels: cnml.cnml_probs(cnml.linear_log_probs, cnml.linear_params(2), x, labels,
                                       w, queries, l2=0.5)
  (p, z), (p_swapped, z_swapped) = run(y), run(1 - y)
  np.testing.assert_allclose(p_swapped, 1 - np.asarray(p), atol=1e-6)
  np.testing.assert_allclose(z_swapped, z, atol=1e-6)


def test_solvers_agree_on_a_convex_fit():
  rng = np.random.default_rng(4)
  x = rng.normal(size=(50, 3)).astype(np.float32)
  y = (x[:, 0] - x[:, 2] + 0.5 * rng.normal(size=50) > 0).astype(np.int32)
  w = np.ones(50, np.float32)
  fits = {s: cnml.fit(cnml.linear_log_probs, cnml.linear_params(3), x, y, w, l2=1.0, solver=s,
                      steps=steps, learning_rate=0.05)
          for s, steps in (("newton", 30), ("lbfgs", 50), ("adam", 3000))}
  for solver in ("lbfgs", "adam"):
    np.testing.assert_allclose(fits[solver]["w"], fits["newton"]["w"], atol=2e-3)
    np.testing.assert_allclose(fits[solver]["b"], fits["newton"]["b"], atol=2e-3)


def test_mlp_cnml_is_optimistic_far_from_data_and_confident_on_it():
  """CNML of a regularised MLP: ~1/2 far away, the data's label on dense data."""
  k_pos, k_neg, k_init = jax.random.split(jax.random.key(0), 3)
  pos = jax.random.normal(k_pos, (40, 2)) * 0.15 + 1.5
  neg = jax.random.normal(k_neg, (200, 2)) * 0.5 - 1.0
  x = jnp.concatenate([neg, pos])
  y = jnp.concatenate([jnp.zeros(200, jnp.int32), jnp.ones(40, jnp.int32)])
  queries = jnp.array([[4.5, -4.5], [-4.5, 4.5], [-1.0, -1.0], [1.5, 1.5]])
  params = common.mlp_params(k_init, 2, (16, 16))
  p, z = cnml.cnml_probs(common.log_probs, params, x, y, jnp.ones(240), queries, l2=1.0,
                         solver="adam", steps=600)
  np.testing.assert_allclose(p[:2], 0.5, atol=0.08)
  assert p[2] < 0.05 and p[3] > 0.9
  assert np.all((np.asarray(z) >= 1 - 1e-4) & (np.asarray(z) <= 2))


def test_grid_cells_match_a_plain_loop_and_a_fixed_coordinate_takes_one_cell():
  rng = np.random.default_rng(0)
  low, high, res = np.array([-1.0, 0.5, 2.0]), np.array([1.0, 0.5, 3.0]), 5
  x = rng.uniform([-1.5, 0.0, 1.5], [1.5, 1.0, 3.5], size=(200, 3)).astype(np.float32)
  expected = []
  for point in x:
    flat = 0
    for v, lo, hi in zip(point, low, high):
      i = 0 if hi == lo else min(max(int(np.floor((v - lo) / (hi - lo) * res)), 0), res - 1)
      flat = flat * res + i
    expected.append(flat)
  np.testing.assert_array_equal(cnml.grid_cells(jnp.asarray(x), low, high, res), expected)


def test_bad_arguments_raise():
  x, y, w = jnp.zeros((2, 2)), jnp.array([0, 1]), jnp.ones(2)
  with pytest.raises(ValueError, match="solver 'sgd'; valid choices: newton, adam, lbfgs"):
    cnml.fit(cnml.linear_log_probs, cnml.linear_params(2), x, y, w, solver="sgd")
  with pytest.raises(ValueError, match="steps must be a positive integer, got 0"):
    cnml.fit(cnml.linear_log_probs, cnml.linear_params(2), x, y, w, steps=0)
  with pytest.raises(ValueError, match="resolution=0"):
    cnml.grid_cells(x, -1.0, 1.0, 0)


@pytest.mark.parametrize("field,value,match", [
    ("solver", "sgd", r"cnml\.solver 'sgd'; valid choices: newton, adam, lbfgs"),
    ("steps", 0, r"cnml\.steps must be a positive integer, got 0"),
    ("data_size", 7, r"cnml\.data_size must be an even integer >= 2, got 7"),
    ("l2", -1.0, r"cnml\.l2 must be a number >= 0, got -1\.0"),
    ("hidden", (16, 0), r"cnml\.hidden .*got \(16, 0\)"),
    ("grid_resolution", 0, r"cnml\.grid_resolution must be a positive integer, got 0")])
def test_bad_settings_name_the_field_and_value(field, value, match):
  with pytest.raises(ValueError, match=match):
    cnml.Settings(**{field: value})


def test_settings_take_a_list_for_hidden_and_stay_hashable():
  settings = cnml.Settings(hidden=[8, 8])
  assert settings.hidden == (8, 8) and hash(settings) == hash(cnml.Settings(hidden=(8, 8)))
