"""`--config` files: one per task, each `mural_jax.tasks`' settings as an ml_collections
config (`--config=experiments/configs/<task>.py[:preset]`)."""


def task_config(env: str, preset: str = "paper"):
  """The ml_collections config of `env` under `preset` (RunConfig.for_task)."""
  import ml_collections
  from mural_jax.config import RunConfig
  return ml_collections.ConfigDict(RunConfig.for_task(env, preset).to_dict())
