"""fedforget: federated machine unlearning on compressed edge models.

The core library (everything under ``fedforget`` except ``fedforget.runtime``) is pure
PyTorch/NumPy and never imports Flower; ``strategies`` and ``clients`` adapt it to
Flower's Message API.
"""

from fedforget.util.errors import ConfigError, DataError, FedForgetError

__all__ = ["ConfigError", "DataError", "FedForgetError", "__version__"]
__version__ = "0.1.0"
