"""The only part of fedforget that talks to Flower: running an experiment under Flower's
simulation engine (Ray backend) or in process, and (later) deployment helpers."""

from fedforget.runtime.simulation import run_experiment

__all__ = ["run_experiment"]
