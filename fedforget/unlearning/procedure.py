"""The ``Procedure`` role: what the *server* does to turn the trained model into an
unlearned one. It is the second, server-side half of a method (the first is the
client-side :class:`~fedforget.unlearning.base.Unlearner` objective).

A procedure has one required hook and one optional hook:

* :meth:`Procedure.unlearn` ``(ctx, original) -> arrays`` runs the unlearning phase(s)
  through ``ctx.loop`` (the one :class:`~fedforget.run.loop.RoundLoop`) and returns the
  unlearned model. ``ctx`` is the run, seen through the
  :class:`~fedforget.unlearning.context.RoundContext` protocol; the building blocks
  procedures use are its methods (``fedavg_step``,
  ``unlearn_step``, ``collect_unlearn``, ``apply_update``, ``retrain``) and attributes
  (``cfg``, ``loop``, ``init``, ``everyone``, ``forgetters``, ``retainers``, ``storage``).
* :meth:`Procedure.on_train_round` sees every training round (global model before the
  round and the clients' replies) so that a method can store what it needs during
  training (FedEraser's client updates, for instance), in ``ctx.storage`` and written
  atomically. ``stores_during_training`` returns a key naming what is stored (it enters
  the comparison runner's training cache key) or ``""`` when nothing is.

Methods that are a client objective only (``oeu``, ``gradient_ascent``, ...) need no
procedure of their own: :func:`resolve_procedure` wraps them in :class:`RoundsProcedure`
(unlearning rounds combined by ``unlearning.combiner``, then recovery rounds).

Register a procedure in its method's own file::

    @register_procedure("finetune")
    class Finetune(Procedure):
        granularities = frozenset({"samples", "class", "client"})
        def unlearn(self, ctx, original): ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from fedforget.unlearning.base import UNLEARNERS
from fedforget.util.errors import ConfigError
from fedforget.util.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from fedforget.config import ExperimentConfig
    from fedforget.unlearning.context import RoundContext

Arrays = dict[str, Any]
ALL_GRANULARITIES = frozenset({"samples", "class", "client"})


class Procedure:
    """Base class of server-side unlearning procedures."""

    granularities: ClassVar[frozenset[str]] = ALL_GRANULARITIES

    def __init__(self, cfg: ExperimentConfig) -> None:
        self.cfg = cfg

    @classmethod
    def validate(cls, cfg: ExperimentConfig) -> None:
        """Raise :class:`ConfigError` for settings this method cannot run with."""

    def stores_during_training(self) -> str:
        return ""

    def on_train_round(self, ctx: RoundContext, r: int, before: Arrays, replies: dict[int, tuple[Arrays, Any]]) -> None:
        """Called after each training round's replies arrive (before aggregation)."""

    def unlearn(self, ctx: RoundContext, original: Arrays) -> Arrays:
        raise NotImplementedError


PROCEDURES: Registry[type[Procedure]] = Registry("unlearning procedure", "fedforget.unlearning")
register_procedure = PROCEDURES.register


class RoundsProcedure(Procedure):
    """The default procedure of client-objective methods: ``unlearning.rounds`` rounds in
    which forget clients send forgetting updates (``unlearning.method``'s objective) and
    retain clients send retain directions, combined by ``unlearning.combiner``; then
    ``unlearning.recovery_rounds`` FedAvg rounds on the retain data."""

    def unlearn(self, ctx: RoundContext, original: Arrays) -> Arrays:
        uc = self.cfg.unlearning
        arrays = ctx.loop.run("unlearn", uc.rounds, original, ctx.unlearn_step())
        arrays = ctx.serve_pending(arrays)  # forget clients that missed rounds, before recovery
        if uc.calibration == "target" and uc.settle_rounds and UNLEARNERS.get(uc.method).can_settle:
            # settling (fedforget.unlearning.calibration): over-unlearned forget samples back
            # to the non-member level, projected like every unlearning update
            arrays = ctx.loop.run("settle", uc.settle_rounds, arrays,
                                  ctx.unlearn_step(seed_key="settle", extra_conf={"opt.settle": 1}))
        return ctx.recover(arrays)


def method_names() -> list[str]:
    return sorted(set(UNLEARNERS.names()) | set(PROCEDURES.names()))


def resolve_procedure(name: str) -> type[Procedure]:
    """The procedure class of method ``name``: its registered procedure, or
    :class:`RoundsProcedure` for a client-objective-only method."""
    if name in PROCEDURES:
        return PROCEDURES.get(name)
    if name in UNLEARNERS:
        unl = UNLEARNERS.get(name)

        class _Rounds(RoundsProcedure):
            granularities = unl.granularities

        _Rounds.__name__ = f"RoundsProcedure[{name}]"
        return _Rounds
    raise ConfigError(f"unlearning.method must be one of {', '.join(method_names())}, got {name!r}")


def check_granularities(method: str, granularities: set[str] | frozenset[str], where: str = "unlearning.method") -> None:
    supported = resolve_procedure(method).granularities
    bad = sorted(set(granularities) - set(supported))
    if bad:
        raise ConfigError(
            f"deletion granularity {bad[0]!r} is not supported by {where} {method!r} "
            f"(supports: {', '.join(sorted(supported))})"
        )
