"""Import this first in every benchmark script: it fixes `sys.path`.

Python puts a script's own folder first on the path, and this folder holds
`tokenize.py` (the tokenizer benchmark), which would then shadow the standard
library's `tokenize` module that `inspect`, and so TensorFlow, import. Move
the folder to the end of the path (for `_timing` and friends) and put the
repository root first (for `official_bert`).
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != HERE] + [HERE]
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
