"""The operator commands' logic (``pshub exceptions|dlq|status|connections ...``), apart from the
command line: each takes a ``Target`` (a deployed stack, or a running ``pshub serve``) and
returns data the command renders as a table or as JSON."""
