"""Validation helpers for settings classes: each raises ValueError naming the field
(as `section.field`, the name a user overrides on the command line), the bad value
and what is valid, before anything is built or compiled."""


def require(ok: bool, message: str) -> None:
  if not ok:
    raise ValueError(message)


def positive_int(name: str, value) -> None:
  require(isinstance(value, int) and not isinstance(value, bool) and value > 0,
          f"{name} must be a positive integer, got {value!r}.")


def non_negative_int(name: str, value, what: str = "") -> None:
  require(isinstance(value, int) and not isinstance(value, bool) and value >= 0,
          f"{name} must be a non-negative integer{what}, got {value!r}.")


def positive(name: str, value) -> None:
  require(isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0,
          f"{name} must be a positive number, got {value!r}.")


def hidden(name: str, value) -> None:
  require(len(value) > 0 and all(isinstance(h, int) and h > 0 for h in value),
          f"{name} must be a non-empty list of positive layer widths, got {value!r}.")


def choice(name: str, value, choices) -> None:
  require(value in choices,
          f"Unknown {name} {value!r}; valid choices: {', '.join(map(str, choices))}.")
