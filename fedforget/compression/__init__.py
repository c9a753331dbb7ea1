"""Compressed clients: quantized (8/4/2-bit fake quantization with a straight-through
estimator) and sparse (persistent ``torch.nn.utils.prune`` masks) local models, their
integer / sparse wire format, and the server's explicit re-quantization.

    from fedforget.compression import compress_, QuantConfig
    compress_(model, QuantConfig(bits=4))          # in place, torchao style

See :mod:`fedforget.compression.core` for how the pieces fit the federation.
"""

from fedforget.compression.core import (
    MASK_PREFIX,
    CompressedFederation,
    Compressor,
    ModelInfo,
    compress_,
    compressor_for,
    is_compressed,
    model_masks,
    unmasked,
)
from fedforget.compression.quant import QuantSpec, dequantize, fake_quantize, grid_error, quantize
from fedforget.compression.sparsity import compute_masks, target_at
from fedforget.config import CompressionConfig
from fedforget.config import QuantizationConfig as QuantConfig
from fedforget.config import SparsityConfig as SparseConfig

__all__ = [
    "MASK_PREFIX", "CompressedFederation", "CompressionConfig", "Compressor", "ModelInfo", "QuantConfig",
    "QuantSpec", "SparseConfig", "compress_", "compressor_for", "compute_masks", "dequantize",
    "fake_quantize", "grid_error", "is_compressed", "model_masks", "quantize", "target_at", "unmasked",
]
