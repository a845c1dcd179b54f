"""SAP Concur for the local runtime: its ESS signer and its Expense v4 / List v4 fake."""
