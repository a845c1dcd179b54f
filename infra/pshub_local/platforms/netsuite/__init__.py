"""The local runtime's NetSuite: a SuiteTalk REST fake (``fake.NetSuiteFake``) for the ERP role."""
