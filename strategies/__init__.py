"""Flower server side: a Federation backed by Flower's Grid, and the ServerApp.

Thin adapters only: the phases, the round loop and every algorithm live in the Flower-
free core library (:mod:`fedforget.run.experiment`, :mod:`fedforget.unlearning.combiners`).
"""
