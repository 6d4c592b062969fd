"""Links in the README, the design record, docs/ and the results index resolve to files
that exist.

Checks relative markdown links and images, `[text](path)` and `![alt](path)`, and HTML
`<img src="path">`; web links (http, https, mailto) are skipped and `#anchors` stripped.
"""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", ROOT / "WORKSPACE_NOTES.md", ROOT / "results" / "README.md",
        *sorted((ROOT / "docs").rglob("*.md"))]

# [text](target) or ![alt](target "title"); the text may hold brackets one level deep.
MARKDOWN_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_SRC = re.compile(r"""<img\s[^>]*?src=["']([^"']+)["']""", re.IGNORECASE)
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
WEB = ("http://", "https://", "mailto:")


def links(text: str) -> list[str]:
  """Link and image targets outside fenced code blocks and inline code."""
  text = FENCE.sub("", text)
  text = re.sub(r"`[^`\n]*`", "", text)
  return MARKDOWN_LINK.findall(text) + HTML_SRC.findall(text)


def local_targets(text: str) -> list[str]:
  """The relative targets among `links(text)`, without their #anchors."""
  targets = []
  for target in links(text):
    if target.startswith(WEB) or target.startswith("#"):
      continue
    targets.append(target.split("#", 1)[0])
  return targets


def test_the_parser_finds_links_and_skips_the_rest():
  text = ("[a](docs/x.md#part) ![b](img.png) <img src=\"c.png\" width=\"45%\"> "
          "[web](https://arxiv.org/abs/2107.07184) [anchor](#status) `[code](no.md)`\n"
          "```\n[fenced](no.md)\n```\n[nested [brackets]](d.md \"title\")")
  assert local_targets(text) == ["docs/x.md", "img.png", "d.md", "c.png"]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc):
  assert doc.exists(), f"{doc.relative_to(ROOT)} is missing"
  targets = local_targets(doc.read_text(encoding="utf-8"))
  assert targets, f"{doc.relative_to(ROOT)}: no relative links found (the parser is broken?)"
  missing = [t for t in targets if not (doc.parent / t).exists()]
  assert not missing, f"{doc.relative_to(ROOT)} links to files that do not exist: {missing}"


def test_every_docs_page_is_checked():
  names = {p.relative_to(ROOT).as_posix() for p in DOCS}
  for expected in ("results/README.md", "docs/running.md", "docs/metrics.md", "docs/benchmarks.md", "docs/log.md",
                   "docs/results/mazes.md", "docs/results/baselines.md",
                   "docs/results/mjx_tasks.md", "docs/results/nml_fidelity.md",
                   "docs/results/kernel_calibration.md"):
    assert expected in names
