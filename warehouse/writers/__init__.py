"""The table writers: one per topic, behind :class:`warehouse.writers.base.TableWriter`;
:data:`warehouse.writers.registry.WRITERS` says which writes which topic."""
