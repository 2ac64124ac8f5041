"""Evaluation of an image classifier on a split. The figures (loss, accuracy, confusion,
precision, recall) are tasks/metrics.py's and the image pass is tasks/classify.py's; this
module keeps the old import path working."""

from convnet.tasks.classify import evaluate, evaluate_views
from convnet.tasks.metrics import Evaluation

__all__ = ["Evaluation", "evaluate", "evaluate_views"]
