"""pshub's infrastructure: the topology (``topology``) and the CDK app built from it."""
