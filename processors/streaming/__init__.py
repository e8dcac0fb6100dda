"""The stages on Quix Streams: workers (one Application each), the per-stage wiring of the
pure logic, the shared run-loop pieces, and every use of Quix internals (quix_internals)."""
