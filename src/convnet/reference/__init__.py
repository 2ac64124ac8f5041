"""The NumPy reference engine: every layer's forward and backward written out, no torch.

    from convnet.reference import Conv2d, Sequential, lenet5
    out, cache = Conv2d(3, 8, 3, padding=1).forward(x)         # x [N, 3, H, W]
    dx, grads = layer.backward(dout, cache)

Slower than PyTorch, but every number can be read and checked."""

from convnet.reference.activation import Dropout, Flatten, ReLU, Sigmoid, Tanh
from convnet.reference.conv import Conv2d, pad, unpad
from convnet.reference.dense import Linear, cross_entropy, softmax
from convnet.reference.layer import Layer
from convnet.reference.models import build, lenet5
from convnet.reference.norm import BatchNorm2d, LocalResponseNorm
from convnet.reference.optim import SGD, learning_rate
from convnet.reference.pool import AvgPool2d, GlobalAvgPool2d, MaxPool2d
from convnet.reference.sequential import Sequential
from convnet.reference.shapes import output_size

__all__ = ["AvgPool2d", "BatchNorm2d", "Conv2d", "Dropout", "Flatten", "GlobalAvgPool2d", "Layer",
           "Linear", "LocalResponseNorm", "MaxPool2d", "ReLU", "SGD", "Sequential", "Sigmoid", "Tanh",
           "build", "cross_entropy", "learning_rate", "lenet5", "output_size", "pad", "softmax", "unpad"]
