"""The webhook pipeline: ingress (verify, keep, acknowledge), raw deliveries, the normaliser."""
