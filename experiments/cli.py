"""The experiment commands' one command line: bad input reported as `error: ...` with
exit status 2 before anything is built, and one override syntax parsed here.

Config fields are overridden as `--config.<field>=<value>` in every command that takes
them; `--set <field>=<value>` (repeated or comma-separated) is the same thing. Each
command defines its flags in `define_flags()`, called only when it runs, so importing
a command defines none, and runs `app.run(main, flags_parser=cli.parse_flags)`.
"""

import ast
import dataclasses
import os
import pathlib
import re
import runpy
import sys

from absl import flags

CONFIGS = pathlib.Path(__file__).resolve().parent / "configs"
DEFAULT_CONFIG = "experiments/configs/zigzag_maze.py:cpu"
_OVERRIDE = "--config."


def fail(message: str, status: int = 2):
  """Prints `error: message` to stderr and exits with `status`."""
  lines = [line for line in message.splitlines() if line.strip()]
  print("error: " + "\n  ".join(lines), file=sys.stderr)
  sys.exit(status)


def _root_cause(e: BaseException) -> BaseException:
  while (e.__cause__ or e.__context__) is not None:
    e = e.__cause__ or e.__context__
  return e


def _fields_help() -> str:
  """Every overridable field with its paper default, read from the dataclasses alone
  (no config is built, so nothing loads jax)."""
  from mural_jax import tasks
  from mural_jax.config import RunConfig

  def default(field, defaults):
    if defaults is not None:
      return getattr(defaults, field.name)
    if field.default is not dataclasses.MISSING:
      return field.default
    return field.default_factory()

  def walk(cls, defaults=None, prefix=""):
    for field in dataclasses.fields(cls):
      if field.name == "env" and not prefix:
        yield f"--config.env (one of {', '.join(tasks.names())})"
      elif dataclasses.is_dataclass(field.type):
        yield from walk(field.type, default(field, defaults), f"{prefix}{field.name}.")
      else:
        yield f"--config.{prefix}{field.name} (default {default(field, defaults)!r})"
  return "\n".join(walk(RunConfig))


def define_override_flag(about: str = "") -> None:
  """`--set`, where every `--config.<field>=<value>` of the command line lands."""
  flags.DEFINE_multi_string(
      "set", [], "Config overrides, the same as --config.<field>=<value>: field=value, "
      "repeated or comma-separated (e.g. --set=sac.updates_per_step=0.5,num_envs=8)" +
      (f"; {about}" if about else "."))


def define_config_flag() -> None:
  """`--config`: a file of experiments/configs with an optional `:preset`, its fields
  overridable as `--config.<field>=<value>`; `config_from_flags()` reads the result."""
  flags.DEFINE_string(
      "config", DEFAULT_CONFIG,
      "Config file, optionally with a preset after ':' (paper | gpu | cpu | tiny). Its "
      "fields, overridable as --config.<field>=<value> (paper defaults; the file may "
      "differ):\n" + _fields_help())
  define_override_flag()


def _config_files() -> list[str]:
  return sorted(f"experiments/configs/{p.name}" for p in CONFIGS.glob("*.py")
                if p.stem != "__init__")


def _check(argv) -> None:
  """Exits 2 on a `--config=FILE[:preset]` whose file does not exist or an override
  naming no field, with the valid files or fields."""
  from mural_jax.config import check_field
  for arg in argv[1:]:
    if arg.startswith("--config="):
      path = arg[len("--config="):].partition(":")[0]
      if not os.path.isfile(path):
        fail(f"--config file {path!r} does not exist; valid: {', '.join(_config_files())} "
             "(each with an optional :preset).")
    elif arg.startswith(_OVERRIDE) or arg.startswith("--set="):
      items = [arg[len(_OVERRIDE):]] if arg.startswith(_OVERRIDE) else split_overrides(
          [arg[len("--set="):]])
      for item in items:
        field, sep, _ = item.partition("=")
        if not sep:
          fail(f"{arg}: an override is field=value, e.g. --config.sac.batch_size=64.")
        try:
          check_field(field.strip())
        except ValueError as e:
          fail(f"{arg}: {e}")


def parse_flags(argv):
  """absl's flag parser for `app.run(..., flags_parser=parse_flags)`: overrides are
  checked and `--config.<field>=<value>` becomes `--set=<field>=<value>`; a bad flag
  exits 2. The message is the flag error's first line and, if it wraps another error,
  that error's own message, not the traceback text around it."""
  if "set" in flags.FLAGS:
    _check(argv)
    argv = [f"--set={a[len(_OVERRIDE):]}" if a.startswith(_OVERRIDE) else a for a in argv]
  try:
    return flags.FLAGS(argv)
  except (flags.Error, ValueError) as e:
    root = _root_cause(e)
    first = (str(e).splitlines() or [type(e).__name__])[0]
    fail(first if root is e or str(root) in first else f"{first}\n{type(root).__name__}: {root}")


def overrides() -> list[str]:
  """The command line's overrides, `field=value` each, in order."""
  return split_overrides(flags.FLAGS.set)


def config_from_flags():
  """The ConfigDict of `--config` with the command line's overrides applied in order;
  exits 2 naming a bad preset, field or value."""
  path, _, preset = flags.FLAGS.config.partition(":")
  try:
    get_config = runpy.run_path(path)["get_config"]
    config = get_config(preset) if preset else get_config()
  except ValueError as e:
    fail(f"--config={flags.FLAGS.config}: {e}")
  try:
    for override in overrides():
      apply_override(config, override)
  except ValueError as e:
    fail(str(e))
  return config


def split_overrides(values: list[str]) -> list[str]:
  """`--set` values to single `field=value` overrides: a comma separates two only
  when a `field=` follows it, so `meta_nml.hidden=(64,64)` stays whole."""
  return [o for v in values for o in re.split(r",(?=\s*[A-Za-z_][\w.]*=)", v) if o.strip()]


def _parse_value(text: str, current):
  """`text` as a value of the type of `current`: text for strings, true/false (any
  case) or 1/0 for booleans, else a Python literal (a bare word stays text)."""
  if isinstance(current, str):
    return text
  if isinstance(current, bool) and text.lower() in ("true", "false", "1", "0"):
    return text.lower() in ("true", "1")
  try:
    value = ast.literal_eval(text)
  except (ValueError, SyntaxError):
    return text
  if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
    return float(value)
  return value


def apply_override(config, override: str) -> None:
  """Sets `field=value` in `config` (a ConfigDict or nested dicts), the value parsed
  as the field's type (`_parse_value`). Raises ValueError naming the problem."""
  field, sep, text = (s.strip() for s in override.partition("="))
  if not sep or not field:
    raise ValueError(f"{_OVERRIDE}{override} is not of the form {_OVERRIDE}field=value.")
  *parents, name = field.split(".")
  node = config
  try:
    for part in parents:
      node = node[part]
    current = node[name]
  except (KeyError, TypeError):
    raise ValueError(f"Unknown config field {field!r} in {_OVERRIDE}{override}; "
                     "`python -m experiments.train --helpfull` lists them.") from None
  value = _parse_value(text, current)
  try:
    node[name] = value
  except TypeError:  # a ConfigDict keeps each field's type
    raise ValueError(f"{_OVERRIDE}{override}: {field} must be of type {type(current).__name__}, got "
                     f"{value!r}.") from None
  except ValueError as e:
    raise ValueError(f"{_OVERRIDE}{override}: {e}") from None
