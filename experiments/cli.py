"""What the experiment commands share: bad input reported as `error: ...` with an exit
status, also for flags absl cannot parse."""

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
