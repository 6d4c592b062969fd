"""Times meta-NML queries on the current device against an MLE forward+backward.

For each hidden width (two hidden layers, 2-D inputs, a 63-point shared
context), at one batch of queries:
  (i)   low-rank, batched        (the default query path)
  (ii)  vmap of grad, batched    (chunked to bound memory: per-query weight copies)
  (iii) one query at a time      (the low-rank code jitted for one point, called in
                                  a Python loop with a host sync per call, as the
                                  public code does; a subset is timed and the
                                  time extrapolated to the whole batch)
  (iv)  MLE forward+backward     (gradient of the mean CE on the same batch)
Times exclude compilation (reported separately); the best of `--repeats` calls
(`experiments.timing`), except the vmap-of-grad path (seconds a call), timed once.

  python -m experiments.bench_nml --widths=2048,256 --batch=256 --json=bench.json
"""

import json
import time

import jax
import jax.numpy as jnp
from absl import app, flags

from experiments import cli, timing
from mural_jax.classifiers import common, meta_nml, nml_query

FLAGS = flags.FLAGS


def _grad_chunk(settings, input_dim, budget_mb):
  """Queries per vmapped chunk: ~3 parameter-sized buffers per (query, label)."""
  sizes = (input_dim, *settings.hidden, 2)
  num_params = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
  return max(1, min(FLAGS.batch, int(budget_mb * 2**20 // (2 * 3 * 4 * num_params))))


def bench_width(width, key):
  """Timings (seconds) of the four computations at one width."""
  settings = meta_nml.Settings(hidden=(width, width))
  k_init, k_pool, k_ctx, k_q, k_y = jax.random.split(key, 5)
  clf = meta_nml.Classifier(settings, 2)
  state = clf.init(k_init)
  state = state.replace(pool_x=jax.random.uniform(k_pool, state.pool_x.shape, minval=-4, maxval=4))
  context = clf.sample_context(state, k_ctx)
  queries = jax.random.uniform(k_q, (FLAGS.batch, 2), minval=-4, maxval=4)
  labels = jax.random.bernoulli(k_y, 0.5, (FLAGS.batch,)).astype(jnp.int32)
  chunk = _grad_chunk(settings, 2, FLAGS.grad_chunk_mb)

  lowrank = lambda p, q, c: nml_query.nml_probs(p, q, c, settings)
  grad = lambda p, q, c: nml_query.nml_probs(p, q, c, settings, method="grad", chunk_size=chunk)
  mle = jax.value_and_grad(
      lambda p, x, y: common.cross_entropy(common.log_probs(p, x), y).mean())

  out = {"width": width, "batch": FLAGS.batch, "grad_chunk": chunk}
  runs = {"lowrank": (lowrank, (state.params, queries, context)),
          "grad": (grad, (state.params, queries, context)),
          "mle_fwd_bwd": (mle, (state.params, queries, labels))}
  for name, (fn, args) in runs.items():
    compiled, out[f"{name}_compile_s"] = timing.compiled(fn, *args)
    slow = name == "grad"   # seconds a call: timed once, no warm-up (compiled ahead)
    out[f"{name}_s"] = timing.seconds(compiled, *args, repeats=1 if slow else FLAGS.repeats,
                              warmup=not slow)

  single, out["one_at_a_time_compile_s"] = timing.compiled(lowrank, state.params, queries[:1], context)
  n = min(FLAGS.loop_points, FLAGS.batch)
  jax.block_until_ready(single(state.params, queries[:1], context))
  start = time.perf_counter()
  for i in range(n):
    jax.block_until_ready(single(state.params, queries[i:i + 1], context))
  out["one_at_a_time_s"] = (time.perf_counter() - start) * FLAGS.batch / n
  out["one_at_a_time_timed_points"] = n
  return out


def _table(results):
  head = (f"{'width':>6} {'low-rank':>10} {'vmap-grad':>10} {'1-at-a-time*':>13} {'MLE f+b':>9}"
          f" | {'1-at-a-time/low-rank':>20} {'low-rank/MLE':>13} {'vmap-grad/low-rank':>18}")
  lines = [head, "-" * len(head)]
  for r in results:
    ms = lambda k: f"{1e3 * r[k]:.1f}ms"
    lines.append(
        f"{r['width']:>6} {ms('lowrank_s'):>10} {ms('grad_s'):>10} {ms('one_at_a_time_s'):>13}"
        f" {ms('mle_fwd_bwd_s'):>9} | {r['one_at_a_time_s'] / r['lowrank_s']:>19.1f}x"
        f" {r['lowrank_s'] / r['mle_fwd_bwd_s']:>12.2f}x {r['grad_s'] / r['lowrank_s']:>17.1f}x")
  lines.append("compile (s): " + "; ".join(
      f"width {r['width']}: low-rank {r['lowrank_compile_s']:.1f}, grad {r['grad_compile_s']:.1f},"
      f" single {r['one_at_a_time_compile_s']:.1f}, MLE {r['mle_fwd_bwd_compile_s']:.1f}"
      for r in results))
  lines.append(f"* one at a time: {results[0]['one_at_a_time_timed_points']} points timed in a"
               f" Python loop, extrapolated to {results[0]['batch']}. vmap-grad chunk sizes: "
               + ", ".join(f"{r['grad_chunk']} (width {r['width']})" for r in results))
  return "\n".join(lines)


def main(argv):
  del argv
  widths = [int(w) for w in FLAGS.widths]
  if min(widths) < 1 or FLAGS.batch < 1 or FLAGS.repeats < 1 or FLAGS.loop_points < 1:
    raise ValueError("widths, batch, repeats and loop_points must all be >= 1.")
  device = jax.devices()[0]
  keys = jax.random.split(jax.random.key(0), len(widths))
  results = [bench_width(w, k) for w, k in zip(widths, keys)]
  print(f"device: {device.platform} ({device.device_kind}), batch {FLAGS.batch},"
        f" context {meta_nml.Settings().context_size}")
  print(_table(results))
  if FLAGS.json:
    payload = json.dumps({"device": f"{device.platform} ({device.device_kind})",
                          "results": results}, indent=1)
    if FLAGS.json == "-":
      print(payload)
    else:
      with open(FLAGS.json, "w") as f:
        f.write(payload + "\n")


def define_flags():
  """This command's flags (defined when it runs: importing the module defines none)."""
  flags.DEFINE_list("widths", ["2048", "256"], "Hidden widths (two hidden layers each).")
  flags.DEFINE_integer("batch", 256, "Queries per batch.")
  flags.DEFINE_integer("repeats", 5, "Timed repeats of each batched call (the best reported).")
  flags.DEFINE_integer("loop_points", 32, "Queries timed one at a time, then extrapolated.")
  flags.DEFINE_integer("grad_chunk_mb", 2048,
                       "Memory budget (MB) of one vmapped chunk of the vmap-of-grad path.")
  flags.DEFINE_string("json", None, "Also write the results as JSON to this path ('-': stdout).")


if __name__ == "__main__":
  define_flags()
  app.run(main, flags_parser=cli.parse_flags)
