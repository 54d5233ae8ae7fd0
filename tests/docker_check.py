"""Kept for imports of old: the check lives in lab/docker_check.py (the pytest plugin needs it installed)."""

from lab.docker_check import docker_skip_reason

__all__ = ["docker_skip_reason"]
