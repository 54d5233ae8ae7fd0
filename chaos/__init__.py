"""Chaos suite: workloads record histories, nemeses inject faults, checkers judge the histories."""
