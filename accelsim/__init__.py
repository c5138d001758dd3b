"""accelsim: how long does this neural network take on this accelerator, and where does the time go?"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
