"""Run a CTM over a whole data set and collect its per-tick outputs."""
from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 500, device: torch.device | None = None,
            transform=None) -> tuple[torch.Tensor, torch.Tensor]:
    """All predictions and certainties of ``model`` on ``images`` (N, ...): (N, C, T), (N, 2, T) on the CPU."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    predictions, certainties = [], []
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size].to(device)
        p, c, _ = model(transform(x) if transform is not None else x)
        predictions.append(p.float().cpu())
        certainties.append(c.float().cpu())
    model.train(was_training)
    return torch.cat(predictions), torch.cat(certainties)
