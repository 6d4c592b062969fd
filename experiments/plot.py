"""Learning curves from `metrics.jsonl` files: `python -m experiments.plot RUN_DIR... --out=F`."""

import os

from absl import app, flags
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from mural_jax.metrics import read_jsonl  # noqa: E402

CURVES = (("eval_success", "eval success rate"), ("eval_distance", "eval distance to goal"))


def plot_learning_curves(runs: dict, path: str) -> str:
  """`runs`: label -> list of metric rows. Writes a PNG with one panel per curve."""
  fig, axes = plt.subplots(1, len(CURVES), figsize=(5 * len(CURVES), 3.6))
  for ax, (key, title) in zip(axes, CURVES):
    for label, rows in runs.items():
      ax.plot([r["env_steps"] for r in rows], [r[key] for r in rows], label=label)
    ax.set(title=title, xlabel="environment steps")
    ax.grid(alpha=0.3)
  axes[0].legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
  return path


_OUT = flags.DEFINE_string("out", "curves.png", "Output PNG.")


def main(argv):
  runs = {os.path.basename(os.path.normpath(d)): read_jsonl(os.path.join(d, "metrics.jsonl"))
          for d in argv[1:]}
  if not runs:
    raise app.UsageError("Give at least one run directory containing metrics.jsonl.")
  print(plot_learning_curves(runs, _OUT.value))


if __name__ == "__main__":
  app.run(main)
