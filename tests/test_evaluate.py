"""``predict`` over a data set equals one forward pass, restores the training mode, applies a transform."""
from __future__ import annotations

import torch

from ctm_course.ctm import ContinuousThoughtMachine
from ctm_course.evaluate import predict


def test_predict_in_batches_equals_one_pass():
    torch.manual_seed(0)
    model = ContinuousThoughtMachine(iterations=3, d_model=16, d_input=8, heads=2, n_synch_out=3, n_synch_action=3,
                                     memory_length=2, memory_hidden_dims=2, backbone_type="tutorial-conv").train()
    images = torch.rand(7, 1, 28, 28)
    predictions, certainties = predict(model, images, batch_size=3, transform=lambda x: x * 2)
    assert model.training  # restored
    model.eval()
    with torch.no_grad():
        expected, expected_cert, _ = model(images * 2)
    assert predictions.shape == (7, 10, 3) and certainties.shape == (7, 2, 3)
    torch.testing.assert_close(predictions, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(certainties, expected_cert, atol=1e-5, rtol=1e-5)
