"""In-memory sandboxes of the platforms pshub writes to: one class per role.

They behave like the real systems where a workflow can tell the difference (unique
keys, code formats, closed periods, required fields, throttling, outages) and let
tests and demos inject failures. ``pshub.connectors.registry`` keeps one per
connection per process.
"""
