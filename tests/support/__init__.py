"""What several test folders share: the broker ladder and chain fixtures (pytest plugins,
registered in tests/support/broker.py), topic readers, the oracle, table snapshots, probes of
offsets and groups, keystores."""
