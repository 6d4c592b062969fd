"""The benchmarks' one timing rule: the best wall time over `repeats` rounds, after one
warm-up (compiling) call each, synchronised with the device around every call.

Functions timed together take turns in each round, so that a change of load on a
shared machine hits them all alike; their arguments are made outside the timed call
(a jitted function that donates its input needs a fresh copy each time).
"""

import time


def best_seconds(timed: dict, repeats: int, warmup: bool = True) -> dict:
  """{name: best seconds of fn(*make_args())} for timed = {name: (fn, make_args)}."""
  import jax
  if warmup:
    for fn, make_args in timed.values():
      jax.block_until_ready(fn(*make_args()))
  best = dict.fromkeys(timed, float("inf"))
  for _ in range(repeats):
    for name, (fn, make_args) in timed.items():
      args = jax.block_until_ready(make_args())
      start = time.perf_counter()
      jax.block_until_ready(fn(*args))
      best[name] = min(best[name], time.perf_counter() - start)
  return best


def seconds(fn, *args, repeats: int, warmup: bool = True) -> float:
  """Best seconds of fn(*args) over `repeats` calls (the same arguments each time)."""
  return best_seconds({"": (fn, lambda: args)}, repeats, warmup)[""]


def compiled(fn, *args):
  """(fn, jitted unless it is, compiled for `args`; the compile's seconds)."""
  import jax
  jitted = fn if hasattr(fn, "lower") else jax.jit(fn)
  start = time.perf_counter()
  result = jitted.lower(*args).compile()
  return result, time.perf_counter() - start
