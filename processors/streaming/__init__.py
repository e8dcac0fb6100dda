"""The stages on Quix Streams: which stage reads and writes what (topology), one module per
stage's wiring of the pure logic (stages), the workers that run them (workers, with their
application, dispatch and broker-state checks), the shared run-loop pieces (runtime), and
every use of Quix internals (quix_internals)."""
