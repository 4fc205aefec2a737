"""README.md is the landing page: short, opening with the two commands, and linking into the
documentation site (``docs/``) only to files that exist. The site's strict build (``make docs``,
run by ``make test``) checks every link between the pages themselves."""

from __future__ import annotations

import re

from tests.conftest import REPO_ROOT

README = REPO_ROOT / "README.md"
#: The most lines the landing page may have.
MAX_LINES = 150
#: Relative link targets of a Markdown text (``[text](target)``), anchors and URLs aside.
LINK = re.compile(r"\]\((?!https?://|#)([^)#\s]+)(?:#[^)\s]*)?\)")


def test_readme_is_at_most_150_lines() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_LINES, f"README.md has {len(lines)} lines (at most {MAX_LINES})"


def test_readme_opens_with_the_two_commands() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "# storyqa"
    block = lines[lines.index("```bash") + 1 :]
    commands = block[: block.index("```")]
    assert lines.index("```bash") == 2, "the commands come first, right after the title"
    assert [c.split("#", 1)[0].strip() for c in commands] == ["make run", "make test"]


def test_readme_links_point_to_files_that_exist() -> None:
    targets = LINK.findall(README.read_text(encoding="utf-8"))
    assert any(t.startswith("docs/") for t in targets)
    missing = [t for t in targets if not (REPO_ROOT / t).exists()]
    assert not missing, f"README.md links to missing files: {missing}"
