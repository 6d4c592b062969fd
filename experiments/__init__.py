"""absl entry points, configs, benchmarks and plots of mural_jax."""
