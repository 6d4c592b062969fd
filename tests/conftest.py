"""Shared test set-up: CPU, float32, and JAX's persistent compilation cache."""

import os

import jax

jax.config.update(
    "jax_compilation_cache_dir",
    os.environ.get("MURAL_JAX_CACHE", os.path.expanduser("~/.cache/mural_jax/jit")))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
