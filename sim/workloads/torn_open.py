"""Placeholder until written."""


def workloads():
    return []
