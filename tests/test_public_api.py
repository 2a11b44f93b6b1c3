"""Every name a package lists in ``__all__`` can be imported from it."""

import importlib

import pytest


@pytest.mark.parametrize("package", ["bpl", "agents", "envs", "bpl.experiments"])
def test_star_import_gives_every_listed_name(package):
    module = importlib.import_module(package)
    missing = [name for name in getattr(module, "__all__", []) if not hasattr(module, name)]
    assert missing == [], f"{package}.__all__ lists names it does not define: {missing}"
