"""What the experiment commands share: bad input reported as `error: ...` with an exit
status, also for flags absl cannot parse; `--set field=value` config overrides."""

import ast
import os
import pathlib
import re
import sys

from absl import flags


def fail(message: str, status: int = 2):
  """Prints `error: message` to stderr and exits with `status`."""
  lines = [line for line in message.splitlines() if line.strip()]
  print("error: " + "\n  ".join(lines), file=sys.stderr)
  sys.exit(status)


def _root_cause(e: BaseException) -> BaseException:
  while (e.__cause__ or e.__context__) is not None:
    e = e.__cause__ or e.__context__
  return e


CONFIGS = pathlib.Path(__file__).resolve().parent / "configs"


def check_config_flags(argv) -> None:
  """Exits 2 on a `--config=FILE[:preset]` whose file does not exist or a
  `--config.field=value` naming no field, with the valid files or fields, before
  ml_collections loads anything."""
  for arg in argv[1:]:
    if arg.startswith("--config="):
      path = arg[len("--config="):].partition(":")[0]
      if not os.path.isfile(path):
        files = sorted(f"experiments/configs/{p.name}" for p in CONFIGS.glob("*.py")
                       if p.stem != "__init__")
        fail(f"--config file {path!r} does not exist; valid: {', '.join(files)} (each with "
             "an optional :preset).")
    elif arg.startswith("--config."):
      from mural_jax.config import check_field
      try:
        check_field(arg[len("--config."):].partition("=")[0])
      except ValueError as e:
        fail(f"{arg}: {e}")


def _fields_help() -> str:
  """Every overridable field with its paper default, from the one config source."""
  from mural_jax.config import RunConfig

  def walk(values, prefix=""):
    for name, value in values.items():
      if isinstance(value, dict) and value:
        yield from walk(value, f"{prefix}{name}.")
      else:
        yield f"--config.{prefix}{name} (default {value!r})"
  return "\n".join(walk(RunConfig.for_task("zigzag_maze").to_dict()))


def define_config_flag():
  """Defines `--config`: a file of experiments/configs with an optional `:preset`, each
  field overridable as `--config.<field>=<value>`. ml_collections reads the command
  line's overrides when the flag is defined, so bad ones exit 2 here first."""
  check_config_flags(sys.argv)
  from ml_collections import config_flags
  return config_flags.DEFINE_config_file(
      "config", "experiments/configs/zigzag_maze.py:cpu",
      "Config file, optionally with a preset after ':' (paper | gpu | cpu | tiny). Its "
      "fields, overridable as --config.<field>=<value> (paper defaults; the file may "
      "differ):\n" + _fields_help())


def parse_flags(argv):
  """absl's flag parser for `app.run(..., flags_parser=parse_flags)`: a bad flag exits 2.

  The message is the flag error's first line and, if it wraps another error (a config
  file that raised), that error's own message, not the traceback text around it.
  """
  try:
    return flags.FLAGS(argv)
  except (flags.Error, ValueError) as e:
    root = _root_cause(e)
    first = (str(e).splitlines() or [type(e).__name__])[0]
    fail(first if root is e or str(root) in first else f"{first}\n{type(root).__name__}: {root}")


def split_overrides(values: list[str]) -> list[str]:
  """`--set` values to single `field=value` overrides: a comma separates two only
  when a `field=` follows it, so `meta_nml.hidden=(64,64)` stays whole."""
  return [o for v in values for o in re.split(r",(?=\s*[A-Za-z_][\w.]*=)", v) if o.strip()]


def apply_override(config, override: str) -> None:
  """Sets `field=value` in `config` (a ConfigDict or nested dicts) as
  `--config.field=value` would: the value is a Python literal (text for string
  fields). Raises ValueError naming the problem."""
  field, sep, text = (s.strip() for s in override.partition("="))
  if not sep or not field:
    raise ValueError(f"--set {override!r} is not of the form field=value.")
  *parents, name = field.split(".")
  node = config
  try:
    for part in parents:
      node = node[part]
    current = node[name]
  except (KeyError, TypeError):
    raise ValueError(f"Unknown config field {field!r} in --set {override!r}; "
                     "`python -m experiments.train --helpfull` lists them.") from None
  if isinstance(current, str):
    value = text
  else:
    try:
      value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
      value = text
  try:
    node[name] = value
  except (TypeError, ValueError) as e:
    raise ValueError(f"--set {override!r}: {e}") from None
