"""The core room: the formatted array, the tape and the primitive arithmetic.

``dlarray`` is the labelled array and ``record`` the bridge from an op's result to the tape;
``tape`` records operations and walks them back; ``autodiff`` is MATLAB's dlfeval/dlgradient;
``primitives`` is the arithmetic that dlarray's operators call (the one allowed import cycle:
dlarray <-> primitives); ``tree`` flattens containers of dlarrays; ``devices`` moves dlarrays
between host and GPU; ``gradcheck`` compares gradients with finite differences.
"""

from .autodiff import dlfeval, dlgradient
from .devices import gather, gpuArray
from .dlarray import (
    LABEL_ORDER,
    canonical_format,
    channels_last,
    dims,
    dlarray,
    extractdata,
    finddim,
    from_channels_last,
    inverse_permutation,
    record,
    stripdims,
)
from .gradcheck import GradcheckError, gradcheck
from .primitives import check_dlarray, exp, log, maximum, minimum, sqrt
from .tape import is_tracing
from .tree import tree_flatten, tree_map

__all__ = [
    "GradcheckError",
    "LABEL_ORDER", "canonical_format", "channels_last", "check_dlarray", "dims", "dlarray",
    "dlfeval", "dlgradient", "exp", "extractdata", "finddim", "from_channels_last", "gather",
    "gpuArray", "gradcheck", "inverse_permutation", "is_tracing", "log", "maximum", "minimum",
    "record", "sqrt", "stripdims", "tree_flatten", "tree_map",
]
