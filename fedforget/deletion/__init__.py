"""Deletion as a process: requests on the round timeline (``requests``), the serving
policies that decide when they are served (``serving``), the SQLite deletion ledger
(``ledger``) and, in ``fedforget.deletion.receipts``, commitments, hash chains, signed
receipts and zero-knowledge proofs.

Layer: ``requests``, ``serving`` and ``ledger`` sit beside ``fedforget.data`` (they import
the config and ``fedforget.util`` only); ``fedforget.deletion.receipts`` sits above
``fedforget.data`` and ``fedforget.models`` (it commits to samples and proves model
outputs), beside the methods and attacks.
"""
