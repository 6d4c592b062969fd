"""Batched Cholesky on CPU without jaxlib 0.10's deadlocking LAPACK path.

MJX factors a small matrix per environment (the mass matrix, the Newton
solver's Hessian), so a vmapped step is a batched Cholesky. jaxlib 0.10.x runs
the batch of its CPU LAPACK kernel (potrf) in chunks on XLA's intra-op thread
pool and blocks a pool thread until they finish; when as many such calls run
at once as the pool has threads (two on a two-core machine: a step and the
auto-reset's fresh `mjx.forward`), every thread waits and the program hangs
with idle CPUs. Seen here at 1024 environments. Open-source jaxlib 0.11.1 and
later no longer take that path.

`use_xla_cholesky()` lowers `cholesky_p` on CPU to XLA's own Cholesky op (an
HLO loop, no LAPACK call) on the affected versions; results agree with LAPACK
to float precision (tested against NumPy). It changes how every later CPU
Cholesky of the process compiles, so it is an explicit call, made once and
logged, when an MJX environment is built (`MjxEnv.__init__`), before any of its
programs is traced; importing does nothing.
"""

from absl import logging
import jax
from jax.interpreters import mlir

AFFECTED = ((0, 10, 0), (0, 11, 1))  # [first, fixed) jax/jaxlib versions
_applied = False


def affected(version=jax.__version_info__) -> bool:
  return AFFECTED[0] <= tuple(version[:3]) < AFFECTED[1]


def applied() -> bool:
  """Whether this process routes CPU Cholesky to XLA's op."""
  return _applied


def use_xla_cholesky() -> bool:
  """Routes CPU Cholesky to XLA's op on affected versions (once); True if it is routed."""
  global _applied
  if _applied or not affected():
    return _applied
  from jax._src.lax import linalg as lax_linalg  # its platform-independent rule
  mlir.register_lowering(jax.lax.linalg.cholesky_p, lax_linalg._cholesky_lowering,
                         platform="cpu")
  _applied = True
  logging.info("jax %s: CPU Cholesky now lowers to XLA's op, not LAPACK's batched potrf "
               "(which can deadlock under MJX); see envs/cpu_cholesky.py.", jax.__version__)
  return True
