"""Seeing inside a network: activation maps, filters, Grad-CAM, reports."""
