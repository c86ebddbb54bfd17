"""Example scenarios (``*.toml``) shipped with fedmarket; see ``agents.scenario.load_example``."""
