"""Workflow 1, opportunity to project: the state machine's steps and how it is started."""
