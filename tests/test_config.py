"""The typed run config: built from the ml_collections configs, checked field by field."""

import dataclasses

import pytest

from experiments.configs import task_config
from mural_jax import training
from mural_jax.config import RunConfig


def _tiny(**overrides):
  config = task_config("zigzag_maze", "tiny")
  for path, value in overrides.items():
    section, _, field = path.rpartition(".")
    (config[section] if section else config)[field] = value
  return config


@pytest.mark.parametrize("path, value, message", [
    ("sac.tau", 2.0, "sac.tau must be in (0, 1], got 2.0"),
    ("sac.hidden", (), "sac.hidden must be a non-empty list of positive layer widths"),
    ("meta_nml.pool_size", 3, "meta_nml.pool_size"),
    ("classifier.batch_size", 0, "classifier.batch_size"),
    ("exploration.rnd_lr", -1.0, "exploration.rnd_lr"),
    ("cnml.solver", "sgd", "cnml.solver"),
    ("mesh.data", 0, "mesh.data must be a positive integer, got 0"),
    ("mesh.seed_batch", -1,
     "mesh.seed_batch must be a non-negative integer (0: every seed at once), got -1"),
    ("mesh.seed_batch", 2, "num_seeds (1) must be a multiple of mesh.seed_batch (2)"),
    ("num_envs", 3, "epoch_length (100) must be a multiple of num_envs (3)"),
    ("relabel", "never", "Unknown relabel mode 'never'; valid choices: batch, collect"),
])
def test_a_bad_value_is_refused_naming_its_field(path, value, message):
  with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
    RunConfig.of(_tiny(**{path: value}))


def test_a_seed_loop_is_refused_where_devices_split_the_seeds():
  config = _tiny(**{"num_seeds": 2, "mesh.seeds": 2, "mesh.seed_batch": 1})
  with pytest.raises(ValueError, match=r"mesh.seed_batch \(1\) loops over the seeds on one "
                                       r"device; with mesh.seeds = 2 set it to 0"):
    RunConfig.of(config)


def test_an_unknown_field_names_the_valid_ones():
  fields = task_config("zigzag_maze", "tiny").to_dict()
  fields["sac"]["hiden"] = (8,)
  with pytest.raises(ValueError, match=r"Unknown config field 'sac.hiden'; valid fields of "
                                       r"sac: hidden, actor_lr"):
    RunConfig.of(fields)


def test_the_typed_config_is_what_the_trainer_reads():
  config = _tiny(**{"sac.hidden": [8, 8]})  # a list, as a JSON or flag value may be
  typed = RunConfig.of(config)
  assert typed.sac.hidden == (8, 8) and isinstance(typed.sac.hidden, tuple)
  assert RunConfig.of(typed) is typed
  with pytest.raises(dataclasses.FrozenInstanceError):
    typed.sac.tau = 0.5
  trainer = training.Trainer(config)
  assert trainer.config == typed
  assert trainer.sac.settings is trainer.config.sac


@pytest.mark.parametrize("task, paper_width", [
    ("zigzag_maze", 2048), ("spiral_maze", 2048), ("sawyer_push", 2048), ("sawyer_door", 512),
    ("sawyer_pick", 512), ("pusher_2d", 2048), ("claw_valve", 2048), ("ant_maze", 2048)])
def test_every_preset_keeps_the_tasks_inner_step_times_width(task, paper_width):
  """The reference's inner SGD step is lr 0.01 on its task's width; a preset of another
  width keeps lr x width (the cpu presets: 0.08 at 256, door and pick 0.02)."""
  import importlib
  module = importlib.import_module(f"experiments.configs.{task}")
  assert module.get_config("paper").meta_nml.hidden == (paper_width, paper_width)
  for preset in ("paper", "gpu", "cpu"):
    nml = module.get_config(preset).meta_nml
    assert nml.inner_lr * max(nml.hidden) == pytest.approx(0.01 * paper_width), preset


@pytest.mark.parametrize("task", ["sawyer_push", "sawyer_door", "sawyer_pick", "pusher_2d"])
def test_narrow_kernel_tasks_calibrate_on_cpu_with_success_example_tasks(task):
  import importlib
  module = importlib.import_module(f"experiments.configs.{task}")
  cpu, paper = module.get_config("cpu").meta_nml, module.get_config("paper").meta_nml
  assert cpu.kernel_share == 0.1 and paper.kernel_share == 0.0   # paper: the reference's
  assert cpu.num_tasks == cpu.num_positive_tasks == 64           # 128 task queries, as before
  assert paper.num_tasks == 128 and paper.num_positive_tasks == 0


# -- tasks as library data -----------------------------------------------------------------

def test_every_registered_environment_has_task_settings():
  import envs
  from mural_jax import tasks
  assert tasks.names() == sorted(envs.names())
  assert set(tasks.OWN) == set(tasks.PAPER)
  assert all(set(own) <= set(tasks.PRESETS) for own in tasks.OWN.values())
  assert set(tasks.SHARED) == set(tasks.PRESETS)


def test_the_width_rule_starts_from_meta_nmls_default_width():
  from mural_jax import tasks
  from mural_jax.classifiers import meta_nml
  assert max(meta_nml.Settings().hidden) == tasks.PAPER_NML_WIDTH
  assert meta_nml.Settings().inner_lr == tasks.PAPER_INNER_LR


def test_every_task_and_preset_gives_the_config_the_experiment_files_gave():
  """tests/data/task_configs.json: every task x preset as the per-task config files built
  it before the settings became tables (commit c987ca9), and the presets changed on purpose
  since, each in the commit that changed it (the MJX tasks' cpu presets: the mazes' SAC
  lever with a layer-normalised critic; pick, valve and ant also the calibrated kernel,
  the pick in the reference's hand box; the valve's examples' finger poses named)."""
  import json
  import pathlib
  from mural_jax import tasks
  saved = json.loads(pathlib.Path(__file__).with_name("data").joinpath(
      "task_configs.json").read_text())
  assert set(saved) == {f"{e}:{p}" for e in tasks.names() for p in tasks.PRESETS}
  for key, expected in saved.items():
    env, preset = key.split(":")
    typed = RunConfig.for_task(env, preset)
    assert json.loads(typed.to_json()) == expected, key
    assert RunConfig.of(task_config(env, preset)) == typed      # the --config file


def test_for_task_applies_dotted_overrides_and_refuses_bad_names():
  c = RunConfig.for_task("sawyer_door", "cpu", {"sac.batch_size": 32, "reward": "mle",
                                                "env_kwargs": {"goal_angle": 0.7}})
  assert (c.sac.batch_size, c.reward, dict(c.env_kwargs)) == (32, "mle", {"goal_angle": 0.7})
  assert c.meta_nml.query_weight == 0.5 and c.meta_nml.inner_lr == pytest.approx(0.02)
  with pytest.raises(ValueError, match=r"Unknown preset 'fast'; valid choices: paper, gpu, "
                                       r"cpu, tiny"):
    RunConfig.for_task("sawyer_door", "fast")
  with pytest.raises(ValueError, match=r"Unknown environment 'sawyer_dor'; valid choices: ant_maze, "):
    RunConfig.for_task("sawyer_dor")
  with pytest.raises(ValueError, match=r"Unknown config field 'sac.hiden'"):
    RunConfig.for_task("sawyer_door", "cpu", {"sac.hiden": (8,)})


def test_check_field_accepts_every_field_and_names_the_valid_ones_otherwise():
  from mural_jax.config import check_field

  def paths(d, prefix=""):
    for k, v in d.items():
      if isinstance(v, dict) and v and k != "env_kwargs":
        yield from paths(v, f"{prefix}{k}.")
      else:
        yield prefix + k
  for path in paths(RunConfig.for_task("zigzag_maze").to_dict()):
    check_field(path)
  check_field("env_kwargs.goal_angle")                      # the environment's own keys
  with pytest.raises(ValueError, match=r"Unknown config field 'sac.hiden'; valid fields of "
                                       r"sac: hidden, actor_lr"):
    check_field("sac.hiden")
  with pytest.raises(ValueError, match=r"Unknown config field 'rewrd'; valid fields: env, "):
    check_field("rewrd")
