"""MkDocs hook: the site's home page is the repository's README.md.

``docs/index.md`` holds only a note; its page is replaced by README.md, with the links that
are relative to the repository root made relative to ``docs/`` (``docs/data.md`` becomes
``data.md``, ``notebooks/quickstart.ipynb`` the notebook's page ``quickstart.ipynb``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

HOME = "index.md"
#: Link targets of README.md (from the repository root) and the same in the site.
LINK_TARGETS = {"](docs/": "](", "](notebooks/quickstart.ipynb)": "](quickstart.ipynb)"}


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """README.md, its links rewritten, in place of ``index.md``; other pages as they are."""
    if page.file.src_uri != HOME:
        return markdown
    text = (Path(config["config_file_path"]).parent / "README.md").read_text(encoding="utf-8")
    for readme_link, site_link in LINK_TARGETS.items():
        text = text.replace(readme_link, site_link)
    return text
