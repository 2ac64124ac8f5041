"""The model zoo: one module per architecture family, all registered by name.

    from convnet.models import create, names, get_spec
    model = create("lenet5", num_classes=10, in_channels=1)
"""

import importlib

from convnet.models.registry import ModelSpec, create, get_spec, names, register

__all__ = ["ModelSpec", "create", "get_spec", "names", "register"]

# Each family registers its models on import. Add a module here to add a family.
FAMILIES = [
    "simple",
    "lenet",
    "alexnet",
    "vgg",
    "googlenet",
    "resnet",
    "allcnn",
    "capsnet",
    "kimcnn",
    "gcn",
    "tdnn",
    "crnn",
]

for _family in FAMILIES:
    try:
        importlib.import_module(f"convnet.models.{_family}")
    except ModuleNotFoundError as _e:
        if _e.name != f"convnet.models.{_family}":
            raise
