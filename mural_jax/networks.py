"""Plain MLPs as pytrees, the one network code of mural_jax.

Parameters are a list of ``{"w": (in, out), "b": (out,)}`` dicts, so learners
that need the layers themselves (the low-rank NML adaptation) can use them
directly. SAC's actor and twin critic are built from the same MLP.
"""

from typing import Sequence

import jax
import jax.numpy as jnp

Params = list  # [{"w": (in, out), "b": (out,)}, ...]


def mlp_init(key: jax.Array, sizes: Sequence[int]) -> Params:
  """Weights ~ U(+-1/sqrt(fan_in)) (PyTorch's default), zero biases.

  `sizes` = (input, hidden..., output).
  """
  keys = jax.random.split(key, len(sizes) - 1)
  return [
      {"w": jax.random.uniform(k, (n_in, n_out), minval=-1.0, maxval=1.0) / jnp.sqrt(n_in),
       "b": jnp.zeros((n_out,))}
      for k, n_in, n_out in zip(keys, sizes[:-1], sizes[1:])
  ]


LAYER_NORM_EPS = 1e-5


def mlp_apply(params: Params, x: jax.Array, layer_norm: bool = False) -> jax.Array:
  """ReLU hidden layers, linear output. x: (..., input) -> (..., output).

  `layer_norm`: each hidden pre-activation normalised to zero mean and unit variance over
  its units before the ReLU (LayerNorm without a learned scale and shift, so the
  parameters keep their shape), as high-update-ratio critics use (BRO, SimBa).
  """
  for layer in params[:-1]:
    h = x @ layer["w"] + layer["b"]
    if layer_norm:
      mean = h.mean(-1, keepdims=True)
      h = (h - mean) * jax.lax.rsqrt(((h - mean) ** 2).mean(-1, keepdims=True) + LAYER_NORM_EPS)
    x = jax.nn.relu(h)
  return x @ params[-1]["w"] + params[-1]["b"]
