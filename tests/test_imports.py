"""Importing mural_jax's modules has no side effects: no brax or MuJoCo for the learners,
no change to how JAX compiles until an MJX environment is built."""

import subprocess
import sys
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _python(code: str) -> str:
  result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
  assert result.returncode == 0, result.stderr
  return result.stdout.strip()


def test_learners_import_neither_brax_nor_mujoco():
  out = _python(
      "import sys\n"
      "import mural_jax, mural_jax.rewards, mural_jax.bonuses\n"
      "from mural_jax.classifiers import cnml, common, meta_nml, mle, nml_query\n"
      "print(sorted({m.split('.')[0] for m in sys.modules} & {'brax', 'mujoco', 'envs'}))")
  assert out == "[]"


def test_cpu_cholesky_workaround_is_applied_by_building_an_mjx_env_not_by_import():
  out = _python(
      "import envs, envs.mjx_base, envs.sawyer_push\n"
      "from envs import cpu_cholesky\n"
      "before = cpu_cholesky.applied()\n"
      "envs.make('sawyer_push')\n"
      "print(before, cpu_cholesky.applied() == cpu_cholesky.affected())")
  assert out == "False True"


def test_plotting_modules_leave_matplotlibs_backend_alone():
  """A notebook's inline backend survives importing them: they draw on `Figure`s, not
  through pyplot, and never call `matplotlib.use`."""
  out = _python(
      "import matplotlib\n"
      "matplotlib.use('pdf')\n"
      "import experiments.plot, experiments.reward_maps, experiments.inspect_run\n"
      "import experiments.nml_fidelity_report\n"
      "import sys\n"
      "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)")
  assert out == "pdf False"
