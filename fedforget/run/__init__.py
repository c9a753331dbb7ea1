"""The run: the server's side of one experiment over any :class:`~fedforget.federation.Federation`.

* ``experiment`` -- :class:`~fedforget.run.experiment.Experiment`, which composes the parts below;
* ``context`` -- the protocols the parts are typed against (no import of the concrete class);
* ``timeline`` -- the round timeline: training, deletion requests arriving and served by a policy;
* ``loop`` -- :class:`~fedforget.run.loop.RoundLoop`, the one round loop (metrics, checkpoints, progress);
* ``unlearning`` -- the unlearning exchange, the server's update, make-up rounds;
* ``evaluation`` -- per-round and final evaluation, ``results.json``;
* ``mia``, ``shadows`` -- membership inference across the federation and LiRA's shadow federations;
* ``faults`` -- retries, leaving clients out, minimum fractions, pending deletions;
* ``checkpoint`` -- positions to resume from; ``validate`` -- registered names, before any work.

Layer: above ``fedforget.client``, ``fedforget.unlearning``, ``fedforget.evaluation``,
``fedforget.deletion`` and everything below them; below ``fedforget.studies``,
``fedforget.runtime`` and the CLI (``tests/test_layers.py`` holds the arrows).
"""
