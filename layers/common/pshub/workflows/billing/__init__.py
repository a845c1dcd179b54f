"""Project to invoice: what a billing period owes, what holds it, and the invoice draft."""
