"""The figures of docs/guide.md, computed by jaxconv, drawn with matplotlib.

python -m train.guide_figures [--out docs/figures] [--workdir RUN] [--quick]
"""

import matplotlib

matplotlib.use("Agg")  # files only, never a window
