"""The local runtime's Kantata OX: its HTTP API fake (``fake.KantataFake``)."""
