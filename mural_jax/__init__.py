"""mural_jax: MURAL (outcome-driven RL with meta-NML rewards) in JAX."""
