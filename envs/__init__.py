"""Registry of mural_jax environments: ``make(name, **overrides)``, ``names()``.

Factories are imported lazily, so using a maze never imports MuJoCo.
"""

import importlib

from envs.base import AutoResetWrapper, MuralEnv, State, wrap_for_training

# name -> "module:factory"; the factory's keyword arguments are the overrides.
_REGISTRY = {
    "zigzag_maze": "envs.point_maze:zigzag_maze",
    "spiral_maze": "envs.point_maze:spiral_maze",
    "sawyer_push": "envs.sawyer_push:sawyer_push",
    "sawyer_pick": "envs.sawyer_pick:sawyer_pick",
    "sawyer_door": "envs.sawyer_door:sawyer_door",
    "pusher_2d": "envs.pusher_2d:pusher_2d",
    "ant_maze": "envs.ant_maze:ant_maze",
    "claw_valve": "envs.claw_valve:claw_valve",
}


def names() -> list[str]:
  """Registered environment names, sorted."""
  return sorted(_REGISTRY)


def point_mazes() -> list[str]:
  """The point mazes' names, in registry order: their observation is the (x, y) position."""
  return [n for n, target in _REGISTRY.items() if target.startswith("envs.point_maze:")]


def check_name(name: str) -> None:
  """Raises ValueError naming `name` and the valid choices if it is unknown."""
  if name not in _REGISTRY:
    raise ValueError(
        f"Unknown environment {name!r}; valid choices: {', '.join(names())}.")


def make(name: str, **overrides) -> MuralEnv:
  """Builds the environment `name`, with keyword overrides of its defaults."""
  check_name(name)
  module, factory = _REGISTRY[name].split(":")
  try:
    return getattr(importlib.import_module(module), factory)(**overrides)
  except TypeError as e:  # an override the environment does not take
    raise ValueError(f"Bad overrides {sorted(overrides)} for environment {name!r}: {e}") from e


__all__ = ["make", "names", "point_mazes", "check_name", "MuralEnv", "State",
           "AutoResetWrapper", "wrap_for_training"]
