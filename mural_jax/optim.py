"""One optimiser step, the pattern every learner here shares: value_and_grad, the
optimiser's update, apply."""

import jax
import optax


def gradient_step(loss_fn, tx: optax.GradientTransformation, params, opt_state, *args,
                  has_aux: bool = False):
  """One step of `tx` on `loss_fn(params, *args)`: (params, opt_state, value), value the
  loss, or (loss, aux) with `has_aux`."""
  value, grads = jax.value_and_grad(loss_fn, has_aux=has_aux)(params, *args)
  updates, opt_state = tx.update(grads, opt_state, params)
  return optax.apply_updates(params, updates), opt_state, value
