"""Meta-NML: exactness of the low-rank query, batching, symmetry, and behaviour.

Small widths keep this fast. The inner step's effect on a logit scales with
inner_lr x width (the network's tangent kernel), so the width-32 networks here
use inner_lr 0.5, about the reference's 0.01 at width 2048.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy.stats import spearmanr

import envs
from mural_jax.classifiers import cnml, common, meta_nml, nml_query
from mural_jax.networks import mlp_apply, mlp_init

SMALL = meta_nml.Settings(hidden=(32, 32), inner_lr=0.5, pool_size=512, num_tasks=64)
CLF = meta_nml.Classifier(SMALL, 2)


def _toy_data(key):
  """150 success examples near (1.5, 1.5); 500 visited states around (-1, -1).

  The maze test uses the same shapes, so one compiled meta_train serves all.
  """
  k_pos, k_neg = jax.random.split(key)
  pos = jax.random.normal(k_pos, (150, 2)) * 0.15 + 1.5
  neg = jax.random.normal(k_neg, (500, 2)) * 0.5 - 1.0
  return pos, neg


def _mean_nml(state, queries, key, num_contexts=16):
  """p_NML and Z averaged over several shared-context draws."""
  contexts = jax.vmap(CLF.sample_context, (None, 0))(state, jax.random.split(key, num_contexts))
  p, z = jax.vmap(lambda c: nml_query.nml_probs(state.params, queries, c, SMALL))(contexts)
  return np.asarray(p.mean(0)), np.asarray(z.mean(0))


def _train_mle(key, positives, negatives, steps=1000):
  """A plain (32, 32) MLP classifier trained with Adam (full batch) on the same data."""
  params = mlp_init(key, (positives.shape[1], 32, 32, 2))
  x = jnp.concatenate([negatives, positives])
  y = jnp.concatenate([jnp.zeros(len(negatives), jnp.int32), jnp.ones(len(positives), jnp.int32)])
  optimizer = optax.adam(1e-3)
  loss = lambda p: common.cross_entropy(common.log_probs(p, x), y).mean()

  def step(carry, _):
    p, s = carry
    updates, s = optimizer.update(jax.grad(loss)(p), s, p)
    return (optax.apply_updates(p, updates), s), None

  (params, _), _ = jax.lax.scan(step, (params, optimizer.init(params)), None, length=steps)
  return lambda q: np.asarray(jax.nn.softmax(mlp_apply(params, q))[..., 1])


@pytest.fixture(scope="session")
def toy():
  k_data, k_init, k_train = jax.random.split(jax.random.key(0), 3)
  pos, neg = _toy_data(k_data)
  state, metrics = CLF.train(CLF.init(k_init), pos, neg, k_train, 20)
  return pos, neg, state, metrics


# -- exactness -------------------------------------------------------------------

def _lowrank_vs_grad(params, settings, queries, context, chunk_size=None):
  with jax.default_matmul_precision("highest"):
    low = nml_query.nml_probs(params, queries, context, settings)
    grad = nml_query.nml_probs(params, queries, context, settings, method="grad",
                               chunk_size=chunk_size)
  for a, b in zip(low, grad):
    np.testing.assert_allclose(a, b, atol=2e-6)


def test_lowrank_equals_vmap_of_grad_trained(toy):
  pos, neg, state, _ = toy
  context = CLF.sample_context(state, jax.random.key(1))
  far = jax.random.normal(jax.random.key(2), (20, 2)) * 3
  _lowrank_vs_grad(state.params, SMALL, jnp.concatenate([far, pos[:3], neg[:3]]), context,
                   chunk_size=7)


@pytest.mark.parametrize("hidden", [(24, 16, 8), (12,)])
def test_lowrank_equals_vmap_of_grad_other_depths(hidden):
  """Several middle layers of uneven widths, and none (the first layer is the last hidden)."""
  settings = meta_nml.Settings(hidden=hidden, pool_size=64, points_per_task=16)
  clf = meta_nml.Classifier(settings, 3)
  state = clf.init(jax.random.key(5))
  state = state.replace(pool_x=jax.random.normal(jax.random.key(6), (64, 3)))
  context = clf.sample_context(state, jax.random.key(7))
  _lowrank_vs_grad(state.params, settings, jax.random.normal(jax.random.key(8), (10, 3)) * 2,
                   context)


def test_lowrank_query_equals_an_explicit_sgd_step(toy):
  """Independent reference: theta_y built by hand from numpy weights and optax's CE."""
  _, _, state, _ = toy
  s = SMALL
  context = CLF.sample_context(state, jax.random.key(2))
  query = jnp.array([0.3, -0.4])
  d = np.linalg.norm(np.asarray(context.x) - np.asarray(query), axis=1)
  w = np.concatenate([[s.query_weight * s.points_per_task / s.pool_size],
                      np.exp(-2.3 * d / s.kernel_threshold)])
  x = jnp.concatenate([query[None], context.x])

  @jax.jit
  def own_prob(label):
    y = jnp.concatenate([label[None], context.y])
    loss = lambda p: jnp.sum(w * optax.softmax_cross_entropy_with_integer_labels(
        mlp_apply(p, x), y)) / w.sum()
    theta = jax.tree.map(lambda p, g: p - s.inner_lr * g, state.params, jax.grad(loss)(state.params))
    return jax.nn.softmax(mlp_apply(theta, query))[label]

  own = [float(own_prob(jnp.int32(label))) for label in (0, 1)]
  p, z = nml_query.nml_probs(state.params, query[None], context, SMALL)
  assert float(p[0]) == pytest.approx(own[1] / sum(own), abs=2e-6)
  assert float(z[0]) == pytest.approx(sum(own), abs=2e-6)


def test_batched_queries_equal_one_at_a_time(toy):
  _, _, state, _ = toy
  context = CLF.sample_context(state, jax.random.key(3))
  queries = jax.random.uniform(jax.random.key(4), (9, 2), minval=-3, maxval=3)
  p, z = nml_query.nml_probs(state.params, queries, context, SMALL)
  for i in range(len(queries)):
    p_i, z_i = nml_query.nml_probs(state.params, queries[i:i + 1], context, SMALL)
    assert float(p_i[0]) == pytest.approx(float(p[i]), abs=1e-6)
    assert float(z_i[0]) == pytest.approx(float(z[i]), abs=1e-6)


def test_label_swap_maps_p_to_one_minus_p(toy):
  """Mirror the classifier (swap its two logits) and the context labels: p -> 1 - p."""
  _, _, state, _ = toy
  context = CLF.sample_context(state, jax.random.key(7))
  queries = jax.random.uniform(jax.random.key(8), (12, 2), minval=-4, maxval=4)
  mirrored = state.params[:-1] + [{"w": state.params[-1]["w"][:, ::-1],
                                   "b": state.params[-1]["b"][::-1]}]
  swapped = nml_query.Context(x=context.x, y=1 - context.y)
  p, z = nml_query.nml_probs(state.params, queries, context, SMALL)
  p_swap, z_swap = nml_query.nml_probs(mirrored, queries, swapped, SMALL)
  np.testing.assert_allclose(p_swap, 1 - np.asarray(p), atol=1e-6)
  np.testing.assert_allclose(z_swap, z, atol=1e-6)


# -- meta-training -----------------------------------------------------------------

def test_every_task_query_comes_with_both_labels():
  pos, neg = _toy_data(jax.random.key(0))
  settings = meta_nml.Settings(hidden=(8,), num_tasks=5, num_positive_tasks=2)
  queries, labels = meta_nml._sample_tasks(jax.random.key(1), pos, neg[:5], settings)
  assert queries.shape == (14, 2)
  np.testing.assert_array_equal(queries[:5], neg[:5])
  np.testing.assert_array_equal(queries[:7], queries[7:])
  np.testing.assert_array_equal(labels, [0] * 7 + [1] * 7)


def test_pool_negatives_and_task_queries_never_overlap():
  """The reference splits one draw of visited states: no task query is also a pool point."""
  settings = meta_nml.Settings(hidden=(8,), pool_size=64, num_tasks=20)
  neg = jnp.arange(settings.num_negatives, dtype=jnp.float32)[:, None] * jnp.ones((1, 2))
  pool, tasks = meta_nml._split_negatives(jax.random.key(3), neg, settings)
  assert pool.shape == (32, 2) and tasks.shape == (20, 2)
  used = np.concatenate([pool[:, 0], tasks[:, 0]])   # row i is (i, i): every row once
  np.testing.assert_array_equal(np.sort(used), np.arange(settings.num_negatives))


def test_positive_share_is_the_success_examples_outer_weight():
  """Closed form: pool points weigh exp(-2.3 d / threshold), the query query_weight / 2."""
  settings = meta_nml.Settings(hidden=(4,), pool_size=4, points_per_task=2,
                               kernel_threshold=0.5, query_weight=0.6)
  state = meta_nml.Classifier(settings, 2).init(jax.random.key(0)).replace(
      pool_x=jnp.array([[1.0, 0.0], [0.0, 2.0], [0.5, 0.0], [0.0, 3.0]]),
      pool_y=jnp.array([1, 1, 0, 0], jnp.int32))
  queries = jnp.array([[0.0, 0.0], [0.0, 2.0]])
  share = meta_nml.positive_share(settings, state, queries)
  d = np.linalg.norm(np.asarray(state.pool_x)[None] - np.asarray(queries)[:, None], axis=-1)
  w = np.exp(-2.3 * d / 0.5)
  expected = w[:, :2].sum(1) / (0.3 + w.sum(1))
  np.testing.assert_allclose(share, expected, rtol=1e-5)
  assert share[1] > 0.7 and share[0] < 0.1   # on a success example / far from both


def test_pass_schedule_and_traced_passes_do_not_recompile(toy):
  pos, neg, _, _ = toy
  assert int(meta_nml.passes_for_epoch(SMALL, 0)) == SMALL.first_passes == 10
  assert int(meta_nml.passes_for_epoch(SMALL, 7)) == SMALL.later_passes == 1
  state = CLF.init(jax.random.key(1))
  cache_size = meta_nml._meta_train._cache_size()       # the toy fixture compiled it
  steps = SMALL.steps_per_pass                           # 2 * 64 tasks / 16 = 8
  for epoch, key in enumerate(jax.random.split(jax.random.key(2), 3)):
    state, metrics = CLF.train(state, pos, neg, key, meta_nml.passes_for_epoch(SMALL, epoch))
    assert int(metrics["meta_steps"]) == (10 if epoch == 0 else 1) * steps
  state, metrics = CLF.train(state, pos, neg, key, 2)
  assert int(metrics["meta_steps"]) == 2 * steps and int(state.epoch) == 4
  assert int(state.opt_state[0].count) == 14 * steps     # one Adam state, never reset
  assert meta_nml._meta_train._cache_size() == cache_size


def test_meta_training_lowers_the_meta_loss():
  pos, neg = _toy_data(jax.random.key(0))
  state = CLF.init(jax.random.key(1))
  keys = jax.random.split(jax.random.key(2), 2)
  _, first = CLF.train(state, pos, neg, keys[0], 1)
  trained, _ = CLF.train(state, pos, neg, keys[0], 6)
  _, later = CLF.train(trained, pos, neg, keys[1], 1)
  assert float(later["meta_loss"]) < 0.7 * float(first["meta_loss"])


def test_bad_settings_raise():
  for kwargs, match in [({"hidden": ()}, r"meta_nml\.hidden .*got \(\)"),
                        ({"hidden": (0, 4)}, r"meta_nml\.hidden .*got \(0, 4\)"),
                        ({"inner_lr": 0.0}, r"meta_nml\.inner_lr .*positive.*got 0\.0"),
                        ({"pool_size": 7}, r"meta_nml\.pool_size .*even.*got 7"),
                        ({"points_per_task": 0}, r"meta_nml\.points_per_task .*got 0"),
                        ({"meta_batch": 0}, r"meta_nml\.meta_batch .*positive.*got 0"),
                        ({"kernel_threshold": -1.0}, r"meta_nml\.kernel_threshold .*got -1\.0")]:
    with pytest.raises(ValueError, match=match):
      meta_nml.Settings(**kwargs)
  settings = meta_nml.Settings(hidden=(4,), pool_size=8, points_per_task=4)
  clf = meta_nml.Classifier(settings, 2)
  state = clf.init(jax.random.key(0))
  context = clf.sample_context(state, jax.random.key(1))
  with pytest.raises(ValueError, match="method='exact'"):
    nml_query.nml_probs(state.params, jnp.zeros((1, 2)), context, settings, method="exact")
  with pytest.raises(ValueError, match="chunk_size=0"):
    nml_query.nml_probs(state.params, jnp.zeros((1, 2)), context, settings, method="grad",
                        chunk_size=0)
  with pytest.raises(ValueError, match="input_size must be >= 1, got 0"):
    meta_nml.Classifier(settings, 0)


# -- behaviour on toy data -------------------------------------------------------------

FAR = jnp.array([[4.5, -4.5], [-4.5, 4.5], [5.0, 5.0], [-5.0, -5.0], [0.0, 5.0], [5.0, 0.0]])


def test_toy_behaviour(toy):
  """~1/2 far from all data, high at the success examples, low where visits are dense."""
  pos, neg, state, _ = toy
  p, z = _mean_nml(state, jnp.concatenate([FAR, pos[:5], jnp.array([[-1.0, -1.0]])]),
                   jax.random.key(9))
  np.testing.assert_allclose(p[:6], 0.5, atol=0.1)
  assert np.all(p[6:11] > 0.9)
  assert p[11] < 0.1
  assert np.all((z > 1 - 1e-3) & (z <= 2))


def test_fit_and_query_from_scratch(toy):
  """The notebook entry point: init, meta-train and query in one call."""
  pos, neg, _, _ = toy
  queries = jnp.concatenate([FAR[:2], pos[:2], jnp.array([[-1.0, -1.0]])])
  p, z = meta_nml.fit_and_query(jax.random.key(14), pos, neg, queries, SMALL, num_passes=3,
                                num_contexts=4)
  assert p.shape == z.shape == (5,)
  assert np.all((np.asarray(p) > 0) & (np.asarray(p) < 1) & (np.asarray(z) <= 2))
  assert p[2] > 0.5 > p[4]


def test_closer_to_exact_cnml_than_mle(toy):
  """Mean |p - p_CNML| over far, in-between and on-data queries; CNML of a (16, 16) MLP."""
  pos, neg, state, _ = toy
  queries = jnp.concatenate([FAR, jnp.array([[0.2, 0.2], [-1.0, 1.0], [1.0, -1.0], [-1.0, -1.0],
                                             [1.5, 1.5], [-2.5, -0.5]])])
  x = jnp.concatenate([neg, pos])
  y = jnp.concatenate([jnp.zeros(len(neg), jnp.int32), jnp.ones(len(pos), jnp.int32)])
  k_cnml, k_mle, k_ctx = jax.random.split(jax.random.key(10), 3)
  p_cnml, _ = cnml.cnml_probs(common.log_probs, common.mlp_params(k_cnml, 2, (16, 16)), x, y,
                              jnp.ones(len(x)), queries, l2=1.0, solver="adam", steps=600)
  p_nml, _ = _mean_nml(state, queries, k_ctx)
  p_mle = _train_mle(k_mle, pos, neg)(queries)
  err_nml = np.mean(np.abs(p_nml - np.asarray(p_cnml)))
  err_mle = np.mean(np.abs(p_mle - np.asarray(p_cnml)))
  assert err_nml < 0.5 * err_mle, (err_nml, err_mle)


# -- zigzag maze ---------------------------------------------------------------------------

def _corridor_visits(key, n=400):
  """A corridor prefix: visits dense at the start (-3, -3), thinning up the left corridor.

  Corridor coordinate s ~ triangular on [0, 3.5] (frontier at y = 0.5), plus a
  blob of wandering around the start.
  """
  k_s, k_x, k_blob = jax.random.split(key, 3)
  s = 3.5 * (1 - jnp.sqrt(jax.random.uniform(k_s, (n,))))
  corridor = jnp.stack([-3 + 0.25 * jax.random.normal(k_x, (n,)), -3 + s], -1)
  blob = -3 + 0.35 * jax.random.normal(k_blob, (n // 4, 2))
  return jnp.clip(jnp.concatenate([corridor, blob]), -3.95, jnp.array([-1.5, 3.95]))


@pytest.fixture(scope="session")
def maze():
  env = envs.make("zigzag_maze")
  k_ex, k_visit, k_init, k_train, k_mle = jax.random.split(jax.random.key(11), 5)
  success = env.success_examples(k_ex, 150)
  visited = _corridor_visits(k_visit)
  state, _ = CLF.train(CLF.init(k_init), success, visited, k_train, 20)
  return success, visited, state, _train_mle(k_mle, success, visited)


def test_zigzag_reward_rises_along_the_visited_corridor(maze):
  _, visited, state, mle = maze
  ys = jnp.array([-3.0, -2.0, -1.0, 0.0, 1.0])
  queries = jnp.stack([jnp.full_like(ys, -3.0), ys], -1)   # up the left corridor; frontier y = 0.5
  p, _ = _mean_nml(state, queries, jax.random.key(12))
  assert np.all(np.diff(p[:4]) > 0), p                      # rises toward the frontier
  assert p[4] > p[0] + 0.2, p                               # past the frontier > start
  line = jnp.stack([jnp.full((15,), -3.0), jnp.linspace(-3, 1, 15)], -1)
  assert spearmanr(np.arange(15), _mean_nml(state, line, jax.random.key(13))[0])[0] > 0.9
  assert mle(visited).max() < 0.05                          # MLE: flat ~0 on all visits
