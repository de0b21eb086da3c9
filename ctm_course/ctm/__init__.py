"""The Continuous Thought Machine, in small modules with one concept each."""

from .attention import attend, project_keys_values
from .certainty import certainty, normalized_entropy
from .compat import load_reference, load_tutorial
from .config import CTMConfig
from .model import ContinuousThoughtMachine
from .nlm import SuperLinear, neuron_level_models
from .synapses import SynapseUNet, make_synapses
from .synchronisation import (
    pair_indices,
    pair_products,
    select_neurons,
    synch_size,
    synchronisation_closed_form,
    synchronisation_step,
)
from .tracking import CTMTrack

__all__ = [
    "CTMConfig",
    "ContinuousThoughtMachine",
    "CTMTrack",
    "SuperLinear",
    "SynapseUNet",
    "attend",
    "certainty",
    "load_reference",
    "project_keys_values",
    "load_tutorial",
    "make_synapses",
    "neuron_level_models",
    "normalized_entropy",
    "pair_indices",
    "pair_products",
    "select_neurons",
    "synch_size",
    "synchronisation_closed_form",
    "synchronisation_step",
]
