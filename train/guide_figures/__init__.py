"""The figures of docs/guide.md, computed by jaxconv and drawn with matplotlib (``python -m train.guide_figures``)."""

import matplotlib

matplotlib.use("Agg")  # files only, never a window
