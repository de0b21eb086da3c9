"""``predict`` over a data set equals one forward pass, restores the training mode, applies a transform."""

from __future__ import annotations

import torch

from ctm_course.ctm import ContinuousThoughtMachine
from ctm_course.evaluate import predict


def test_predict_in_batches_equals_one_pass():
    torch.manual_seed(0)
    model = ContinuousThoughtMachine(
        iterations=3,
        d_model=16,
        d_input=8,
        heads=2,
        n_synch_out=3,
        n_synch_action=3,
        memory_length=2,
        memory_hidden_dims=2,
        backbone_type="tutorial-conv",
    ).train()
    images = torch.rand(7, 1, 28, 28)
    predictions, certainties = predict(
        model, images, batch_size=3, transform=lambda x: x * 2
    )
    assert model.training  # restored
    model.eval()
    with torch.no_grad():
        expected, expected_cert, _ = model(images * 2)
    assert predictions.shape == (7, 10, 3) and certainties.shape == (7, 2, 3)
    torch.testing.assert_close(predictions, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(certainties, expected_cert, atol=1e-5, rtol=1e-5)


def test_batched_slices_several_inputs_together_and_restores_the_mode_on_errors():
    import pytest

    from ctm_course.evaluate import batched

    model = torch.nn.Linear(2, 1).train()
    x, y = torch.arange(7.0), torch.arange(7) * 10

    def pairs(a: torch.Tensor, b: torch.Tensor) -> list[tuple[float, int]]:
        assert not model.training and not torch.is_grad_enabled()
        return list(zip(a.tolist(), b.tolist()))

    out = batched(model, (x, y), pairs, batch_size=3)
    assert (
        [len(o) for o in out] == [3, 3, 1] and out[2] == [(6.0, 60)] and model.training
    )
    with pytest.raises(ValueError, match="batch_size"):
        batched(model, x, len, batch_size=0)
    with pytest.raises(ValueError, match="same length"):
        batched(model, (x, y[:3]), pairs, batch_size=3)

    def fail(_: torch.Tensor) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        batched(model, x, fail, batch_size=3)
    assert model.training
