"""What the experiment commands share: bad input reported as `error: ...` with an exit
status, also for flags absl cannot parse; `--set field=value` config overrides."""

import ast
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
