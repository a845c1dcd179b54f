"""Change orders: an approved contract amendment carried to the ERP, the PSA and billing."""
