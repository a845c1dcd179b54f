"""What the local runtime plays for each platform: its signer (and, in time, its API fake).

Kept out of the production layer (``layers/common``): nothing here is deployed. A
platform that pushes webhooks has ``pshub_local.platforms.<vendor>.signer.SIGNER``.
"""
