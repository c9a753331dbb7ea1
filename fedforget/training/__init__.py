"""Local training primitives shared by clients, methods and evaluators: seeded local SGD,
batched prediction and accuracy counts (``local``) and the optimizer (``optim``).

Layer: beside ``fedforget.data`` and ``fedforget.models``; imports only them, the
config and ``fedforget.util``.
"""
