"""Seeing inside a network: activation maps, filters, Grad-CAM, dreams, run plots, reports.

For notebooks: each function returns arrays or a matplotlib Figure (nothing is shown or saved).

    from convnet import visualize as vz
    clf = vz.load_run("runs/fashion")                     # the model, its preprocessing, classes
    raw, x = vz.image_batch(clf, "shirt.png")             # converted as `predict` converts it
    vz.plot_filters(clf.model)                            # first-layer kernels
    [(s.name, s.shape) for s in vz.feature_maps(clf.model, x)]
    vz.plot_gradcam(vz.gradcam(clf.model, x), raw, clf.classes)
    vz.plot_dream(vz.dream(clf.model, clf.preprocess, layer="8", filters=[0, 1, 2]))
"""

from convnet.visualize.common import image_batch, load_run
from convnet.visualize.dream import dream, plot_dream
from convnet.visualize.filters import filter_grid, plot_filters
from convnet.visualize.gradcam import gradcam, plot_gradcam
from convnet.visualize.maps import feature_maps, plot_maps
from convnet.visualize.plots import plot_confusion, plot_curves, plot_per_class, plot_wrong
from convnet.visualize.report import build_report, write_report

__all__ = ["load_run", "image_batch", "filter_grid", "plot_filters", "feature_maps", "plot_maps",
           "gradcam", "plot_gradcam", "dream", "plot_dream", "plot_curves", "plot_confusion",
           "plot_per_class", "plot_wrong", "build_report", "write_report"]
