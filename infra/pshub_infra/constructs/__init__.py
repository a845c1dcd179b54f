"""One construct per concern; ``pshub_infra.stack`` composes them."""
