from bench.soak.cli import cli

cli()
