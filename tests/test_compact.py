"""8-bit packing of large matrices (ctm_course.compact): the error bound, what stays exact, errors."""

from __future__ import annotations

import pytest
import torch

from ctm_course import compact
from ctm_course.rcnn.model import RecurrentCNN


def _state() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    big = (
        torch.randn(600, 200, generator=generator)
        * torch.linspace(0.01, 3, 600)[:, None]
    )
    big[7] = 0.0  # an all-zero row must survive
    return {
        "big.weight": big,
        "small.weight": torch.randn(10, 10, generator=generator),
        "big.bias": torch.randn(200_000, generator=generator),  # 1-D: never packed
        "steps": torch.tensor(3, dtype=torch.long),
    }


def test_large_matrices_become_int8_with_a_scale_per_row():
    packed = compact.pack(_state())
    assert packed["big.weight::int8"].dtype == torch.int8
    assert packed["big.weight::int8"].shape == (600, 200)
    assert packed["big.weight::scale"].shape == (600, 1)
    assert "big.weight" not in packed
    for key in ("small.weight", "big.bias", "steps"):
        assert key in packed
    # 1 byte per entry plus one float per row, against 4 bytes per entry
    assert compact.packed_bytes(
        {k: v for k, v in packed.items() if "big.weight" in k}
    ) == (600 * 200 + 600 * 4)


def test_every_weight_is_within_half_a_step_of_its_row():
    state = _state()
    restored = compact.unpack(compact.pack(state))
    assert set(restored) == set(state)
    weight = state["big.weight"]
    step = weight.abs().amax(dim=1, keepdim=True) / 127
    error = (restored["big.weight"] - weight).abs()
    assert torch.all(error <= step / 2 + 1e-7)
    assert error.max() > 0  # it is a quantisation, not a copy
    assert torch.all(restored["big.weight"][7] == 0)
    # the row maximum is exact: q = ±127
    rows = torch.arange(600)
    top = weight.abs().argmax(dim=1)
    assert torch.allclose(
        restored["big.weight"][rows, top], weight[rows, top], rtol=1e-6
    )


def test_small_and_integer_tensors_come_back_exactly():
    state = _state()
    restored = compact.unpack(compact.pack(state))
    for key in ("small.weight", "big.bias", "steps"):
        assert torch.equal(restored[key], state[key])
        assert restored[key].dtype == state[key].dtype


def test_a_plain_state_dict_unpacks_to_itself():
    state = _state()
    assert all(torch.equal(compact.unpack(state)[k], v) for k, v in state.items())


def test_a_packed_gain_network_answers_like_the_original():
    torch.manual_seed(0)
    net = RecurrentCNN(4, 4).eval()
    copy = RecurrentCNN(4, 4).eval()
    copy.load_state_dict(compact.unpack(compact.pack(net.state_dict())))
    x = torch.rand(8, 1, 100, 100)
    with torch.no_grad():
        a, b = net(x), copy(x)
    assert torch.allclose(a, b, atol=1e-2 * a.abs().max().item())
    assert torch.equal(a.argmax(1), b.argmax(1))


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="positive"):
        compact.pack(_state(), min_numel=0)
    packed = compact.pack(_state())
    with pytest.raises(ValueError, match="already looks packed"):
        compact.pack(packed)
    del packed["big.weight::scale"]
    with pytest.raises(ValueError, match="no ::scale partner"):
        compact.unpack(packed)
    packed = compact.pack(_state())
    del packed["big.weight::int8"]
    with pytest.raises(ValueError, match="no ::int8 partner"):
        compact.unpack(packed)
