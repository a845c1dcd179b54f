"""The local runtime's Harvest: its API v2 fake (``fake.HarvestFake``), time entries only."""
