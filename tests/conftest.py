"""The shared fixtures, as plugins: the broker ladder (tests/support/broker.py) and the
chain's settings (tests/support/chain.py)."""

pytest_plugins = ["tests.support.broker", "tests.support.chain"]
