"""The command-line entry points of storyqa (``[project.scripts]`` in ``pyproject.toml``).

Each ``scripts/<name>.py`` has a ``main()``: ``python scripts/<name>.py ARGS`` runs it as a
script, and the installed command ``storyqa-<name> ARGS`` (``storyqa-generate-data`` for
``generate_data.py``) calls the same ``main()``, with the same arguments. The entry points
import their helpers as modules of this package (``scripts._cli``, ``scripts.bench``), so
``scripts`` must be installed: the editable install of a checkout (``make``) or a wheel, which
ships Hydra's ``conf/`` inside this package (``scripts/conf`` links to ``conf/``).
"""
