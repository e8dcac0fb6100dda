"""``make soak``: the long reliability runs; :mod:`bench.soak.cli` is the command, with
the load run, the fault run, their verdicts and their report in a module each."""
