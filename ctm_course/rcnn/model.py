"""The recurrent CNN of Thorat, Aldegheri & Kietzmann (2021) with its four switches.

Feedforward sweep (t = 1): input clamp -> conv1 (1 -> n, 5x5, 100 -> 96) -> ReLU -> max-pool 3
(-> 32) -> conv2 (n -> 2n, 5x5, 32 -> 28) -> ReLU -> max-pool 3 (-> 9) -> fc1 (2n*81 -> 16n) -> ReLU.
At t = 2..T each layer also receives a **recurrent flow** computed from the states of step t-1:
lateral (from the same layer) and top-down (from higher layers). A flow acts as a **bias**
(added before the ReLU, switch ``bias``) or as a **gain** (the ReLU output is multiplied by
``1 + G``, switch ``gain``); ``lateral`` and ``topdown`` switch the sources. The readout fc2 reads
the fc1 vectors of all T steps, concatenated (16n * T -> 20).

Module names follow the authors' ``RNNet_all`` (``c1xg``: top-down from conv1 to the input, gain
branch; ``fc1c1b``: top-down from fc1 to conv1, bias branch, ...), so that their published
state_dicts load (:mod:`ctm_course.rcnn.weights`). Unlike their code, which computes both branches
and multiplies the disabled one by 0, only the enabled branches and sources are built and run. The
top-down upsampling layers are :class:`~ctm_course.rcnn.shuffle_transpose.ShuffleConvTranspose2d`
and the lateral flow of conv1 a :class:`~ctm_course.rcnn.shuffle_conv.ShuffleConv2d` (a ``ConvTranspose2d``
and a ``Conv2d`` with the same parameters, computed faster on a CPU).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .shuffle_conv import ShuffleConv2d
from .shuffle_transpose import ShuffleConvTranspose2d

LAYERS = ("input", "conv1", "conv2", "fc")
BRANCHES = ("b", "g")  # bias (additive) and gain (multiplicative)
# (module name without the branch letter, source, target layer, kind)
CONNECTIONS = (
    ("c1x", "conv1", "input", "topdown"),
    ("c2x", "conv2", "input", "topdown"),
    ("fc1x", "fc", "input", "topdown"),
    ("c1c1", "conv1", "conv1", "lateral"),
    ("c2c1", "conv2", "conv1", "topdown"),
    ("fc1c1", "fc", "conv1", "topdown"),
    ("c2c2", "conv2", "conv2", "lateral"),
    ("fc1c2", "fc", "conv2", "topdown"),
    ("fc1fc1", "fc", "fc", "lateral"),
)


def flags_name(bias: bool, gain: bool, lateral: bool, topdown: bool) -> str:
    """The authors' model code, e.g. ``"0111"`` for gain modulation with lateral and top-down flows."""
    return "".join(str(int(f)) for f in (bias, gain, lateral, topdown))


@dataclass
class Trace:
    """What a forward pass saw. ``acts[layer][t]``: input ``(B,1,100,100)``, conv1 ``(B,n,32,32)``, conv2
    ``(B,2n,9,9)``, fc ``(B,16n)`` (pooled outputs, t = 0..T-1). ``flows[branch][layer][k]``: the summed flow
    into ``layer`` entering step k + 1 (k = 0..T-2): input ``(B,1,100,100)``, conv1 ``(B,n,96,96)``, conv2
    ``(B,2n,28,28)``, fc ``(B,16n)``."""

    acts: dict[str, list[torch.Tensor]] = field(
        default_factory=lambda: {name: [] for name in LAYERS}
    )
    flows: dict[str, dict[str, list[torch.Tensor]]] = field(default_factory=dict)


class RecurrentCNN(nn.Module):
    """Recurrent CNN with bias/gain modulation and lateral/top-down flows (Thorat et al., 2021).

    Args:
        n_feats: conv1 channels (the paper: 8); conv2 has 2n, fc1 16n units.
        t_steps: timesteps (the paper: 4).
        bias, gain: additive and multiplicative modulation (the paper's main model: gain only).
        lateral, topdown: the sources of the recurrent flows.

    ``forward(x)`` takes ``(B, 1, 100, 100)`` and returns log-probabilities ``(B, 20)``
    (``log(clamp(softmax, 1e-10, 1))`` as in the paper); with ``trace=True`` also a :class:`Trace`.
    ``replace={(branch, layer, k): flow}`` substitutes the flow into ``layer`` entering step k + 1.
    """

    def __init__(
        self,
        n_feats: int = 8,
        t_steps: int = 4,
        bias: bool = False,
        gain: bool = True,
        lateral: bool = True,
        topdown: bool = True,
    ):
        super().__init__()
        if n_feats < 1:
            raise ValueError(f"n_feats must be >= 1, got {n_feats}")
        if t_steps < 1:
            raise ValueError(f"t_steps must be >= 1, got {t_steps}")
        n = self.n_feats = n_feats
        self.t_steps = t_steps
        self.switches = dict(
            bias=bool(bias),
            gain=bool(gain),
            lateral=bool(lateral),
            topdown=bool(topdown),
        )
        self.conv1 = nn.Conv2d(1, n, 5)
        self.pool = nn.MaxPool2d(3, 3)
        self.conv2 = nn.Conv2d(n, 2 * n, 5)
        self.fc1 = nn.Linear(2 * n * 81, 16 * n)
        self.fc2 = nn.Linear(16 * n * t_steps, 20)
        self.branches = tuple(b for b, on in zip(BRANCHES, (bias, gain)) if on)
        self.kinds = tuple(
            k for k, on in (("lateral", lateral), ("topdown", topdown)) if on
        )
        self.connections = (
            tuple(c for c in CONNECTIONS if c[3] in self.kinds) if t_steps > 1 else ()
        )
        for branch in self.branches:
            for name, _, _, _ in self.connections:
                self.add_module(name + branch, self._make(name))
        # the authors' initialisation; ConvTranspose2d keeps PyTorch's default
        for module in self.modules():
            if type(module) in (nn.Conv2d, ShuffleConv2d, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def _make(self, name: str) -> nn.Module:
        n = self.n_feats
        return {
            "c1x": lambda: ShuffleConvTranspose2d(n, 1, 7, 3),
            "c2x": lambda: ShuffleConvTranspose2d(2 * n, 1, 20, 10),
            "fc1x": lambda: nn.Linear(16 * n, 100 * 100),
            "c1c1": lambda: ShuffleConv2d(n, n, 5, 1, 2),
            "c2c1": lambda: ShuffleConvTranspose2d(2 * n, n, 16, 10),
            "fc1c1": lambda: nn.Linear(16 * n, 96 * 96 * n),
            "c2c2": lambda: nn.Conv2d(2 * n, 2 * n, 5, 1, 2),
            "fc1c2": lambda: nn.Linear(16 * n, 28 * 28 * 2 * n),
            "fc1fc1": lambda: nn.Linear(16 * n, 16 * n),
        }[name]()

    @property
    def name(self) -> str:
        return flags_name(**self.switches)

    def flows(
        self,
        state: dict[str, torch.Tensor],
        branch: str,
        skip: Collection[str] = (),
    ) -> dict[str, torch.Tensor]:
        """The summed recurrent flow into each layer from the states of the previous step (one branch).

        ``state`` holds the pooled outputs ``conv1``, ``conv2``, ``fc`` and the pre-pool maps ``conv1_map``,
        ``conv2_map`` (lateral flows read those). Layers without a source are absent, and so are the
        layers in ``skip``, whose flows are not computed (the caller replaces them).
        """
        n, B = self.n_feats, state["fc"].shape[0]
        shapes = {
            "input": (B, 1, 100, 100),
            "conv1": (B, n, 96, 96),
            "conv2": (B, 2 * n, 28, 28),
            "fc": (B, 16 * n),
        }
        out: dict[str, torch.Tensor] = {}
        for name, source, target, kind in self.connections:
            if target in skip:
                continue
            x = (
                state[source + "_map"]
                if kind == "lateral" and source != "fc"
                else state[source]
            )
            flow = getattr(self, name + branch)(x).view(shapes[target])
            out[target] = out[target] + flow if target in out else flow
        return out

    @staticmethod
    def _finish_step(
        t: int,
        state: dict[str, torch.Tensor],
        readout: list[torch.Tensor],
        observer,
        record: Trace | None,
    ) -> None:
        """The end of step t: fc1's output joins the readout; the observer and the trace see the state."""
        readout.append(state["fc"])
        if observer is not None:
            observer(t, state, readout)
        if record is not None:
            for layer in LAYERS:
                record.acts[layer].append(state[layer])

    def forward(
        self,
        x: torch.Tensor,
        trace: bool = False,
        replace: dict[tuple[str, str, int], torch.Tensor] | None = None,
        observer=None,
        resume: tuple[int, dict, list] | None = None,
    ):
        """See the class docstring. ``observer(t, state)`` is called after each step t with the state dict;
        ``resume=(t, state, readout)`` starts at step t + 1 from a state an observer kept (a shortcut for
        the perturbation analysis: the steps before a replaced flow are the same as without it)."""
        if x.ndim != 4 or x.shape[1:] != (1, 100, 100):
            raise ValueError(f"x must be (B, 1, 100, 100), got {tuple(x.shape)}")
        record = (
            Trace(flows={b: {name: [] for name in LAYERS} for b in self.branches})
            if trace
            else None
        )
        state: dict[str, torch.Tensor] = {}
        readout: list[torch.Tensor] = []
        first = 0
        if resume is not None:
            if trace:
                raise ValueError("trace=True cannot be combined with resume")
            first, state, readout = resume[0] + 1, dict(resume[1]), list(resume[2])
        for t in range(first, self.t_steps):
            if t > 0 and not self.connections:
                # no recurrent flow (the B network): every step repeats the first exactly
                self._finish_step(t, state, readout, observer, record)
                continue
            mod: dict[str, dict[str, torch.Tensor]] = {}
            if t > 0:
                for branch in self.branches:
                    replaced = {
                        layer: flow
                        for (b, layer, k), flow in (replace or {}).items()
                        if b == branch and k == t - 1
                    }
                    # a replaced flow is not computed
                    mod[branch] = self.flows(state, branch, skip=replaced)
                    mod[branch].update(replaced)
                    if record is not None:
                        for layer, flow in mod[branch].items():
                            record.flows[branch][layer].append(flow)
            b, g = mod.get("b", {}), mod.get("g", {})
            # input: x~ = clamp((x + B) * (1 + G), 0, 1)
            z = x + b["input"] if "input" in b else x
            z = torch.clamp(z * (1 + g["input"]) if "input" in g else z, 0, 1)
            state["input"] = z
            for layer, conv in (("conv1", self.conv1), ("conv2", self.conv2)):
                z = conv(z)  # z: previous pooled output (or the input)
                z = F.relu(z + b[layer] if layer in b else z)
                # may be negative: the gain is unbounded
                z = z * (1 + g[layer]) if layer in g else z
                state[layer + "_map"], z = z, self.pool(z)
                state[layer] = z
            z = self.fc1(z.flatten(1))
            z = F.relu(z + b["fc"] if "fc" in b else z)
            z = z * (1 + g["fc"]) if "fc" in g else z
            state["fc"] = z
            self._finish_step(t, state, readout, observer, record)
        logits = self.fc2(torch.cat(readout, dim=1))
        log_probs = torch.log_softmax(logits.float(), dim=1).clamp_min(math.log(1e-10))
        return (log_probs, record) if trace else log_probs


def connection_counts(model: RecurrentCNN) -> dict[str, list[str]]:
    """The recurrent connections of ``model`` by kind, e.g. ``{"lateral": ["c1c1", ...], "topdown": [...]}``."""
    return {
        kind: [name for name, _, _, k in model.connections if k == kind]
        for kind in ("lateral", "topdown")
    }
