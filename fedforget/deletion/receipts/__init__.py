"""Verifiable deletion: client commitments to forget sets, hash chains of the unlearning
rounds, server-signed receipts and (optional extra ``zk``) zero-knowledge proofs of the
forgetting evidence. One module per concern:

* :mod:`~fedforget.deletion.receipts.commitment` -- salted Merkle root over a client's forget samples
  (computed on the client; the salt never leaves it);
* :mod:`~fedforget.deletion.receipts.chain` -- the hash chain model before -> each round -> model after;
* :mod:`~fedforget.deletion.receipts.signing` -- Ed25519 key pair of the server and signatures;
* :mod:`~fedforget.deletion.receipts.receipt` -- build and verify a receipt;
* :mod:`~fedforget.deletion.receipts.zk` -- ezkl proofs of a model's outputs on committed samples;
* :mod:`~fedforget.deletion.receipts.device`, :mod:`~fedforget.deletion.receipts.prover` -- the device side: commit, prove;
* :mod:`~fedforget.deletion.receipts.records` -- what the experiment calls: ledger + receipts.

See docs/verifiable-deletion.md for what each part proves and what it does not.
"""
