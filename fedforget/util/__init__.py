"""Utilities every layer may use: typed errors (``errors``), atomic file writing and
results I/O (``io``, ``npy``), hashing of model bytes (``hashing``), explicit seeding
(``seeding``), the registry behind every role (``registry``), devices (``device``) and
model parameters as named arrays (``params``).

Layer: the bottom. Imports nothing of fedforget outside ``fedforget.util``.
"""
