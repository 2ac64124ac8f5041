"""Where the network looked: Grad-CAM (Selvaraju et al. 2017) and gradient saliency.

Grad-CAM weighs each map A_k of a late conv stage by the mean gradient of the class score
over that map, alpha_k = mean_ij dy_c/dA_k[i,j], and keeps the positive part of
sum_k alpha_k A_k, upsampled to the input. Saliency is |dy_c/dx|, the largest over colours."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from convnet.visualize.common import STAGE_KINDS, display_image, resolve_layer


@dataclass
class GradCam:
    cam: np.ndarray          # [H, W] in [0, 1] at the input size
    saliency: np.ndarray     # [H, W] in [0, 1] at the input size
    class_index: int         # the class explained
    probabilities: np.ndarray  # [K] softmax of the model's output
    layer: str               # the stage whose maps were weighed


def default_layer(model: torch.nn.Module, x: torch.Tensor) -> str:
    """The last stage that still has the spatial size of the last conv's output: after its
    BatchNorm and ReLU, before the pooling that coarsens it."""
    from convnet.visualize.activations import layer_outputs

    _, outs = layer_outputs(model, x[:1])
    convs = [i for i, o in enumerate(outs) if o.kind == "Conv2d"]
    if not convs:
        raise ValueError("Grad-CAM needs a model with a Conv2d layer")
    last = convs[-1]
    shape = outs[last].output.shape
    while last + 1 < len(outs) and outs[last + 1].output.shape == shape:
        last += 1
    return outs[last].name


def gradcam(model: torch.nn.Module, x: torch.Tensor, class_index: int | None = None,
            layer: str | int | None = None) -> GradCam:
    """Grad-CAM and saliency of x [1, C, H, W] for `class_index` (default: the predicted class)."""
    name = default_layer(model, x) if layer is None else resolve_layer(model, layer, STAGE_KINDS)[0]
    module = dict(model.named_modules())[name]
    maps, grads = [], {}

    def hook(mod, inputs, output):
        # A module may run twice in one pass (a ResNet block's shared ReLU): keep each call
        # apart and explain the last one, with its own gradient.
        call = len(maps)
        output.register_hook(lambda g: grads.__setitem__(call, g.detach()))
        maps.append(output.detach().clone())

    was_training = model.training
    model.eval()
    x = x[:1].detach().clone().float().requires_grad_(True)
    handle = module.register_forward_hook(hook)
    try:
        with torch.enable_grad():
            logits = model(x).float()
            k = int(logits.argmax(1)) if class_index is None else int(class_index)
            logits[0, k].backward()
    finally:
        handle.remove()
        model.train(was_training)
    if len(maps) - 1 not in grads:
        raise ValueError(f"layer {name} is not on the path to the output")
    maps, grad = maps[-1].float(), grads[len(maps) - 1].float()              # [1, C, h, w]
    if maps.dim() != 4:
        raise ValueError(f"layer {name} gives {tuple(maps.shape)}, not maps [B, C, H, W]")
    weights = grad.mean(dim=(2, 3), keepdim=True)                             # [1, C, 1, 1]
    cam = F.relu((weights * maps).sum(1, keepdim=True))                       # [1, 1, h, w]
    cam = F.interpolate(cam, size=x.shape[2:], mode="bilinear", align_corners=False)[0, 0]
    sal = x.grad.detach().abs().amax(1)[0]                                    # [H, W]
    probs = torch.softmax(logits.detach()[0], 0).numpy()
    return GradCam(_unit(cam.numpy()), _unit(sal.numpy()), k, probs, name)


def _unit(a: np.ndarray) -> np.ndarray:
    top = float(a.max())
    return (a / top if top > 0 else np.zeros_like(a)).astype(np.float32)


def plot_gradcam(result: GradCam, raw: torch.Tensor, classes: list[str]):
    """A Figure: the image, Grad-CAM over it, and the saliency map."""
    from matplotlib.figure import Figure

    image = display_image(raw)
    gray = image.ndim == 2
    fig = Figure(figsize=(10, 3.9))
    name = classes[result.class_index]
    p = result.probabilities[result.class_index]
    top = np.argsort(result.probabilities)[::-1][:3]
    fig.suptitle(f"class {name!r} (p = {p:.2f}); top: " +
                 ", ".join(f"{classes[i]} {result.probabilities[i]:.2f}" for i in top), fontsize=10)
    panels = [("input", None), (f"Grad-CAM at layer {result.layer}", result.cam),
              ("saliency |d score / d input|", result.saliency)]
    for i, (title, heat) in enumerate(panels, start=1):
        ax = fig.add_subplot(1, 3, i)
        if heat is None or i == 2:
            ax.imshow(image, cmap="gray" if gray else None, interpolation="nearest")
        if heat is not None:
            ax.imshow(heat, cmap="jet" if i == 2 else "hot", alpha=0.5 if i == 2 else 1.0,
                      vmin=0, vmax=1, interpolation="bilinear" if i == 2 else "nearest")
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    return fig
