"""What the experiment commands share: bad input reported as `error: ...` with an exit
status, also for flags absl cannot parse."""

import sys

from absl import flags


def fail(message: str, status: int = 2):
  """Prints `error: message` to stderr and exits with `status`."""
  lines = [line for line in message.splitlines() if line.strip()]
  if "Traceback" in message:  # config-file errors embed a traceback: keep its conclusion
    lines = [lines[0], lines[-1]]
  print("error: " + "\n  ".join(lines), file=sys.stderr)
  sys.exit(status)


def parse_flags(argv):
  """absl's flag parser for `app.run(..., flags_parser=parse_flags)`: a bad flag exits 2."""
  try:
    return flags.FLAGS(argv)
  except (flags.Error, ValueError) as e:
    fail(str(e))
