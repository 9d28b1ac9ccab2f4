"""Files shipped inside the package: pretrained model weights (``models/<name>.pt`` with a
``<name>.json`` record of how each was made)."""
