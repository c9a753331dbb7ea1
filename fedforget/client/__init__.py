"""What a client does on its private data: :class:`~fedforget.client.worker.ClientWorker`
(setup, fit, unlearn, evaluate on the data that never leaves it) and
:class:`~fedforget.client.inprocess.InProcessFederation` (workers as objects in this
process). ``clients/`` adapts the worker to Flower's messages.

Layer: above the methods, attacks, evaluators, compression and deletion requests it runs
(``fedforget.unlearning``, ``fedforget.evaluation``, ``fedforget.compression``,
``fedforget.deletion``) and below ``fedforget.run``, which drives it through the
federation protocol.
"""
