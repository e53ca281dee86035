"""The scenarios, one module per theme; importing a module registers its scenarios."""


def load_all() -> None:
    from . import closes, edges, features, limits, network, traffic  # noqa: F401
