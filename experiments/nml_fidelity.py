"""Fidelity of meta-NML to exact CNML on zigzag-maze visitation (issue 17).

  python -m experiments.nml_fidelity [--out=results/studies/nml_fidelity] [--frontiers=5,14]

Data, per exploration frontier: synthetic visitation of the zigzag's corridor from
the start up to the frontier (an arc length along the corridor's centre line,
24 long from the start (-3, -3) to the goal (3, 3)), densest at the start, and
the environment's 150 success examples. For each setting (a preset's meta-NML,
untrained or after N meta-training passes on that data) the queries, a coarse
grid plus points along the corridor, are answered by

  * meta-NML, averaged over `--contexts` context draws from its pool;
  * exact CNML of the same network (same hidden sizes and initial parameters),
    fitted by `cnml` to meta-NML's own pool (replay states label 0, success
    examples label 1, weight 1 each) plus the query at meta-NML's query_weight,
    the query's weight relative to one pool point in both. Meta-NML has no L2
    (one inner step is its only regulariser); CNML of an unregularised wide MLP
    is ~1/2 everywhere, so CNML keeps the cnml preset's L2 (`--l2`);
  * tabular CNML of the same pool and query weight on the count reward's
    16 x 16 grid: (n1 + q) / (n1 + n0 + 2q).

Reported per setting and frontier: mean |p - p_CNML| and |p - p_tabular| over
the queries; Spearman's rho of p against the arc length along the corridor
(does p rise toward the goal?); mean p on heavily visited path points (arc
length <= frontier / 2), on unvisited ones (2 past the frontier to 2 before the
goal) and at the goal; and the meta-objective on held-out tasks (fresh visited
states, each with both labels, one fixed context draw each): the outer loss
after the inner step, the share of it from the query's own term, and the
outer loss without the step; exact CNML's refits are scored by the same outer
loss (does the meta-objective prefer CNML's answer?). Writes DIR/fidelity.json and DIR/fidelity.png
(one row of maps per setting, one column per frontier).

The corridor data are in `nml_fidelity_data`; the metrics, table and figure in
`nml_fidelity_report`.

Exact CNML costs two full fits per query (about 1 s each at width 256 on two
CPU cores): the paper-width (2048) CNML is left out unless `--paper_cnml`
(hours on CPU). One paper-preset meta-training pass takes ~4 min on two cores,
hence `--paper_passes=0` by default.
"""

import dataclasses
import json
import os
import time

from absl import app, flags
import numpy as np

from experiments.cli import fail, parse_flags
from experiments.nml_fidelity_data import PATH_LENGTH, corridor_visits, query_set
from experiments.nml_fidelity_report import HEADER, format_row, mae, path_metrics, plot

PRESETS = ("cpu", "paper")
GRID_LOW, GRID_HIGH, GRID_CELLS = -4.0, 4.0, 16   # the count reward's grid (cnml preset)


# -- the three estimators ----------------------------------------------------------

def preset_settings(preset: str):
  """Meta-NML settings of a config preset (the zigzag's)."""
  from experiments.configs import task_config
  from mural_jax.config import RunConfig
  return RunConfig.of(task_config("zigzag_maze", preset)).meta_nml


def meta_nml_probs(classifier, state, queries, key, num_contexts: int) -> np.ndarray:
  """Meta-NML p (B,) of a `meta_nml.Classifier`, averaged over `num_contexts` context draws
  from the state's pool."""
  import jax
  return np.asarray(jax.lax.map(lambda k: classifier.probs(state, queries, k),
                                jax.random.split(key, num_contexts)).mean(0))


def cnml_base_fit(init_params, pool_x, pool_y, l2: float, steps: int):
  """The MLP `init_params` fitted to the pool alone: every per-query refit starts here."""
  from mural_jax.classifiers import cnml, common
  return cnml.fit(common.log_probs, init_params, pool_x, pool_y, np.ones(pool_x.shape[0]),
                  l2=l2, solver="adam", steps=steps, learning_rate=1e-2)


def exact_cnml_probs(base_params, pool_x, pool_y, queries, query_weight: float, l2: float,
                     steps: int, chunk: int = 16) -> np.ndarray:
  """Exact CNML p (B,): per query and label a refit from `base_params` on the pool + query."""
  from mural_jax.classifiers import cnml, common
  w = np.ones(pool_x.shape[0], np.float32)
  return np.concatenate([  # chunks bound the memory of the vmapped fits
      np.asarray(cnml.cnml_probs(common.log_probs, base_params, pool_x, pool_y, w, part,
                                 query_weight=query_weight, l2=l2, solver="adam", steps=steps,
                                 learning_rate=1e-2)[0])
      for part in np.array_split(queries, max(1, -(-len(queries) // chunk)))])


def tabular_probs(pool_x, pool_y, queries, query_weight: float) -> np.ndarray:
  """Tabular CNML p (B,) of the pool on the count reward's grid."""
  from mural_jax.classifiers import cnml
  return np.asarray(cnml.count_probs(pool_x[pool_y == 1], pool_x[pool_y == 0], queries,
                                     GRID_LOW, GRID_HIGH, GRID_CELLS, query_weight))


# -- the meta-objective on held-out tasks ----------------------------------------------

def _tasks(task_x):
  """Every held-out state with both labels: queries (2T, D), labels (2T,)."""
  import jax.numpy as jnp
  return (jnp.concatenate([task_x, task_x]),
          jnp.repeat(jnp.arange(2, dtype=jnp.int32), task_x.shape[0]))


def _outer_loss(params, query, label, pool_x, pool_y, settings):
  """Meta-NML's outer loss of one task at `params` (`meta_nml.outer_batch`), and the
  query's own term of it."""
  import jax.numpy as jnp
  from mural_jax.classifiers import common, meta_nml
  x, y, w = meta_nml.outer_batch(query, label, pool_x, pool_y, settings,
                                 settings.kernel_threshold)
  ce = common.cross_entropy(common.log_probs(params, x), y)               # (1 + pool,)
  return jnp.sum(w * ce) / jnp.sum(w), w[0] * ce[0] / jnp.sum(w)


def _summary(total, query_term) -> dict:
  return {"heldout_meta_loss": float(total.mean()),
          "heldout_query_share": float(query_term.sum() / total.sum())}


def heldout_meta_loss(params, settings, pool_x, pool_y, task_x, key) -> dict:
  """Outer loss of held-out tasks after meta-NML's inner step, and at theta_0 without it.

  One fixed context draw per task (`key`), so settings compare without
  sampling noise. `heldout_query_share`: the part of the outer loss that is the
  query's own term (the proposed label at the query, weight query_weight / 2).
  """
  import jax
  from mural_jax.classifiers import meta_nml
  queries, labels = _tasks(task_x)
  idx = jax.vmap(lambda k: jax.random.choice(k, settings.pool_size, (settings.context_size,),
                                             replace=False))(
      jax.random.split(key, queries.shape[0]))

  def task(query, label, context_idx):
    adapted = meta_nml.adapted_params(params, query, label, context_idx, pool_x, pool_y,
                                      settings, settings.kernel_threshold)
    return (*_outer_loss(adapted, query, label, pool_x, pool_y, settings),
            _outer_loss(params, query, label, pool_x, pool_y, settings)[0])

  total, query_term, at_theta0 = jax.jit(jax.vmap(task))(queries, labels, idx)
  return {**_summary(total, query_term), "heldout_loss_at_theta0": float(at_theta0.mean())}


def cnml_heldout_meta_loss(base_params, settings, pool_x, pool_y, task_x, l2: float,
                           steps: int) -> dict:
  """The same held-out outer loss with exact CNML's refit theta_y in place of the inner step.

  Lower than meta-NML's: the outer loss rewards CNML's fits; higher: it cannot
  tell CNML's answer from a worse one, so meta-training does not move toward it.
  """
  import jax
  import jax.numpy as jnp
  from mural_jax.classifiers import cnml, common
  queries, labels = _tasks(task_x)

  def task(ql):
    query, label = ql
    xs, ys = jnp.concatenate([pool_x, query[None]]), jnp.concatenate([pool_y, label[None]])
    ws = jnp.concatenate([jnp.ones(pool_x.shape[0]), jnp.full((1,), settings.query_weight)])
    theta = cnml.fit(common.log_probs, base_params, xs, ys, ws, l2=l2, solver="adam",
                     steps=steps, learning_rate=1e-2)
    return _outer_loss(theta, query, label, pool_x, pool_y, settings)

  total, query_term = jax.jit(lambda q, y: jax.lax.map(task, (q, y), batch_size=16))(
      queries, labels)
  return _summary(total, query_term)


# -- one frontier ----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Setting:
  preset: str
  passes: int
  inner_lr_scale: float = 1.0
  meta_lr_scale: float = 1.0

  @property
  def name(self) -> str:
    extra = "".join(f" {k} x{v:g}" for k, v in (("inner_lr", self.inner_lr_scale),
                                                   ("meta_lr", self.meta_lr_scale)) if v != 1)
    return f"{self.preset} {self.passes} passes{extra}"


def run_frontier(frontier, settings_list, positives, key, args) -> tuple[list, dict]:
  """Metrics rows of every setting and the reference rows, and the maps, at one frontier."""
  import jax
  import jax.numpy as jnp
  from mural_jax.classifiers import meta_nml

  rng = np.random.default_rng(args["seed"])
  visits = jnp.asarray(corridor_visits(rng, 4096, frontier))
  task_x = jnp.asarray(corridor_visits(rng, args["eval_tasks"], frontier))
  grid_points, s, path_q = query_set(args["grid"], args["path_step"])
  queries = jnp.asarray(np.concatenate([grid_points, path_q]))
  axis = np.linspace(-4, 4, args["map_grid"], dtype=np.float32)
  map_points = jnp.asarray(np.stack(np.meshgrid(axis, axis), -1).reshape(-1, 2))
  k_init, k_train, k_ctx, k_eval = jax.random.split(key, 4)
  rows, maps, n_path = [], {"visits": np.asarray(visits[:600])}, len(s)

  def row(name, preset, p, p_cnml, p_tab, **extra):
    out = {"setting": name, "preset": preset, "frontier": frontier,
           "mae_cnml": mae(p, p_cnml), "mae_tabular": mae(p, p_tab),
           **path_metrics(p[-n_path:], s, frontier), **extra}
    rows.append(out)
    return out

  for preset in dict.fromkeys(st.preset for st in settings_list):
    base = preset_settings(preset)
    base_clf = meta_nml.Classifier(base, 2)
    state0 = base_clf.init(k_init)
    pool = base_clf.train(state0, positives, visits, k_train, 0)[0]   # the data: fixed
    pool_x, pool_y = pool.pool_x, pool.pool_y
    p_tab = tabular_probs(pool_x, pool_y, queries, base.query_weight)
    maps[f"tabular {preset}"] = tabular_probs(pool_x, pool_y, map_points, base.query_weight)
    row(f"tabular CNML ({preset} pool)", preset, p_tab, None, None)
    p_cnml = None
    if preset == "cpu" or args["paper_cnml"]:
      start = time.perf_counter()
      fitted = cnml_base_fit(state0.params, pool_x, pool_y, args["l2"], args["cnml_steps"])
      p_cnml = exact_cnml_probs(fitted, pool_x, pool_y, queries, base.query_weight,
                                args["l2"], args["cnml_steps"])
      maps[f"cnml {preset}"] = p_cnml[:len(grid_points)]
      row(f"exact CNML ({preset} net)", preset, p_cnml, None, p_tab,
          **cnml_heldout_meta_loss(fitted, base, pool_x, pool_y, task_x, args["l2"],
                                   args["cnml_steps"]),
          seconds=time.perf_counter() - start)
      print(format_row(rows[-1]), flush=True)
    for scale in dict.fromkeys((st.inner_lr_scale, st.meta_lr_scale) for st in settings_list
                               if st.preset == preset):
      settings = dataclasses.replace(base, inner_lr=base.inner_lr * scale[0],
                                     meta_lr=base.meta_lr * scale[1])
      clf = meta_nml.Classifier(settings, 2)
      state, done = clf.init(k_init), 0
      todo = [st for st in settings_list if st.preset == preset
              and (st.inner_lr_scale, st.meta_lr_scale) == scale]
      for st in sorted(todo, key=lambda st: st.passes):
        start = time.perf_counter()   # passes are cumulative: same key, so the same pool and tasks
        state, metrics = clf.train(state, positives, visits, k_train, st.passes - done)
        jax.block_until_ready(state.params)
        train_s, done = time.perf_counter() - start, st.passes
        p = meta_nml_probs(clf, state, queries, k_ctx, args["contexts"])
        maps[st.name] = meta_nml_probs(clf, state, map_points, k_ctx, args["contexts"])
        row(st.name, preset, p, p_cnml, p_tab, passes=st.passes, train_seconds=train_s,
            **heldout_meta_loss(state.params, settings, pool_x, pool_y, task_x, k_eval),
            train_meta_loss=float(metrics["meta_loss"]) if st.passes > 0 else None)
        print(format_row(rows[-1]), flush=True)
  return rows, maps


def _parse(values, kind, name, valid, check):
  """Flag list -> values of `kind`; exits 2 naming the bad value and the valid choices."""
  out = []
  for v in values:
    try:
      x = kind(v)
    except ValueError:
      x = None
    if x is None or not check(x):
      fail(f"--{name}: {v!r} is invalid; valid: {valid}.")
    out.append(x)
  if not out:
    fail(f"--{name} is empty; valid: {valid}.")
  return out


def parse_args() -> tuple[list, list, dict]:
  """Frontiers, settings and the scalar arguments, validated."""
  f = flags.FLAGS
  frontiers = _parse(f.frontiers, float, "frontiers", f"numbers in (0, {PATH_LENGTH:g})",
                     lambda x: 0 < x < PATH_LENGTH)
  presets = _parse(f.presets, str, "presets", ", ".join(PRESETS), lambda x: x in PRESETS)
  passes = {p: _parse(getattr(f, n), int, n, "integers >= 0", lambda x: x >= 0)
            for p, n in (("cpu", "passes"), ("paper", "paper_passes"))}
  inner = _parse(f.inner_lr_scales, float, "inner_lr_scales", "numbers > 0", lambda x: x > 0)
  meta = _parse(f.meta_lr_scales, float, "meta_lr_scales", "numbers > 0", lambda x: x > 0)
  for name, value, low in (("grid", f.grid, 1), ("map_grid", f.map_grid, 2),
                           ("contexts", f.contexts, 1), ("eval_tasks", f.eval_tasks, 1),
                           ("cnml_steps", f.cnml_steps, 1)):
    if value < low:
      fail(f"--{name}={value} is invalid; valid: integers >= {low}.")
  if not 0 < f.path_step <= PATH_LENGTH / 2:
    fail(f"--path_step={f.path_step} is invalid; valid: (0, {PATH_LENGTH / 2:g}].")
  if f.l2 <= 0:
    fail(f"--l2={f.l2} is invalid; valid: numbers > 0.")
  settings = [Setting(p, n, i, m) for p in presets for i in inner for m in meta
              for n in dict.fromkeys(passes[p])]
  args = {"grid": f.grid, "path_step": f.path_step, "map_grid": f.map_grid,
          "contexts": f.contexts, "eval_tasks": f.eval_tasks, "l2": f.l2,
          "cnml_steps": f.cnml_steps, "paper_cnml": f.paper_cnml, "seed": f.seed}
  return frontiers, settings, args


def main(argv):
  del argv
  frontiers, settings, args = parse_args()
  import jax
  import envs
  key = jax.random.key(args["seed"])
  k_examples, k_run = jax.random.split(key)
  positives = envs.make("zigzag_maze").success_examples(k_examples, 150)
  os.makedirs(flags.FLAGS.out, exist_ok=True)
  print(HEADER)
  rows, maps = [], {}
  for frontier, k in zip(frontiers, jax.random.split(k_run, len(frontiers))):
    frontier_rows, maps[frontier] = run_frontier(frontier, settings, positives, k, args)
    rows += frontier_rows
  print("\n" + HEADER + "\n" + "\n".join(format_row(r) for r in rows))
  with open(os.path.join(flags.FLAGS.out, "fidelity.json"), "w") as f:
    json.dump({"args": {**args, "frontiers": frontiers,
                        "settings": [dataclasses.asdict(s) for s in settings]},
               "path_length": PATH_LENGTH, "rows": rows}, f, indent=1)
  print(plot(maps, positives, os.path.join(flags.FLAGS.out, "fidelity.png")))


def define_flags():
  """This command's flags (defined when it runs: importing the module defines none)."""
  flags.DEFINE_string("out", "results/studies/nml_fidelity", "Output directory.")
  flags.DEFINE_list("frontiers", ["5", "14"],
      f"Visited arc lengths along the corridor, in (0, {PATH_LENGTH:g}).")
  flags.DEFINE_list("presets", list(PRESETS), "Meta-NML presets to compare.")
  flags.DEFINE_list("passes", ["0", "1", "10", "100"],
      "Meta-training passes compared at the cpu preset (0: untrained).")
  flags.DEFINE_list("paper_passes", ["0"],
      "Passes at the paper preset (~4 min each on two CPU cores).")
  flags.DEFINE_list("inner_lr_scales", ["1"],
      "Factors on the preset's inner_lr, each a setting.")
  flags.DEFINE_list("meta_lr_scales", ["1"],
      "Factors on the preset's meta_lr, each a setting.")
  flags.DEFINE_integer("grid", 5,
      "Grid queries per axis (exact CNML's cost grows as its square).")
  flags.DEFINE_float("path_step", 1.5, "Arc length between corridor queries.")
  flags.DEFINE_integer("map_grid", 33,
      "Points per axis of the meta-NML and tabular maps.")
  flags.DEFINE_integer("contexts", 16, "Context draws averaged per meta-NML query.")
  flags.DEFINE_integer("eval_tasks", 24,
      "Held-out visited states scoring the meta-loss.")
  flags.DEFINE_float("l2", 1.0, "L2 of exact CNML (the cnml preset's).")
  flags.DEFINE_integer("cnml_steps", 300, "Adam steps per exact CNML fit (cpu preset).")
  flags.DEFINE_bool("paper_cnml", False, "Also exact CNML of the 2048-wide network.")
  flags.DEFINE_integer("seed", 0, "PRNG seed.")


if __name__ == "__main__":
  define_flags()
  app.run(main, flags_parser=parse_flags)
