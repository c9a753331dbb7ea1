"""Typed errors. Each message says what is wrong and how to fix it."""


class FedForgetError(Exception):
    """Base class of every error fedforget raises on purpose."""


class ConfigError(FedForgetError, ValueError):
    """An experiment config is malformed: unknown key, wrong type or bad value."""


class DataError(FedForgetError, ValueError):
    """Data cannot be loaded, partitioned or turned into the requested forget set."""


class RegistryError(ConfigError, KeyError):
    """An unknown component name was requested from a registry."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class DivergenceError(FedForgetError, ArithmeticError):
    """An unlearning or training round produced non-finite numbers (NaN/inf)."""
