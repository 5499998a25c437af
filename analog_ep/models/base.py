"""Energy-based networks as graphs of nodes and synapses.

Node 0 is the clamped input ``x``; nodes ``1..L`` are free states; node ``L`` is the linear
output. The energy (Scellier & Bengio 2017; Scellier et al. 2023) is

    E(s) = sum_k (q_k / 2) ||s_k||^2 - sum_edges <s_post, read(s_pre)> - sum_k <b_k, s_k>,

where the node term ``(q_k / 2) ||s_k||^2`` is that of a clip activation (each hidden ``s_k``
restricted to the box of its activation ``clip(a_k h, lo, hi)``, ``q_k = 1 / a_k``). In general
each node's term is its activation's :meth:`Activation.node_energy` ``sum_i Phi(s_i)`` with
``Phi' = sigma^{-1}`` (Hopfield 1984): ``Phi(s) = s^2 / (2 a)`` on the box for a clip,
``Phi(s) = s ln s + (1 - s) ln(1 - s)`` for the logistic sigmoid. The exact block minimizer of
``E`` in ``s_k`` with the others fixed is the closed-form update

    s_k <- sigma_k(h_k),   h_k = sum_in read(s_pre) + sum_out read_t(s_post) + b_k,

(``clip(a_k h_k, lo, hi)`` or ``1 / (1 + exp(-h_k))``: :meth:`Activation.__call__`), and for
the linear output with the MSE cost ``C = 1/2 ||s_L - y||^2`` inside the total energy
``F = E + beta C``: ``s_L <- (h_L + beta y) / (1 + beta)``; with the clamp nudge
``s_L <- (1 - beta) h_L + beta y`` (the MSE nudge of strength beta / (1 - beta)).
"""

from __future__ import annotations

import contextlib
import functools
import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ..errors import ConfigError
from ..synapses import ParameterStorage, Synapse
from ..synapses.base import abs_max_scale
from ..synapses.counters import PhaseCounter
from ..config.model_specs import LEARNING_RULES


class Activation:
    """A hidden node's nonlinearity ``sigma`` and everything EP needs of it, in one place.

    * ``__call__(h)``: the node update, the closed-form block minimizer of the energy in the node
      given its drive ``h`` (``argmin_s Phi(s) - h s``, i.e. ``s = sigma(h)``);
    * :meth:`node_energy`: the node's term ``sum_i Phi(s_i)`` of the energy, per sample, with
      ``Phi' = sigma^{-1}`` (Hopfield 1984);
    * :meth:`saturated`: the units sitting at a kink of ``sigma`` (a bound of a clip), where EP's
      estimate is exact to O(beta^2) only if the free and nudged states agree (gradcheck).

    Subclasses: :class:`ClipActivation` (clamp, hard_sigmoid, relu6, linear),
    :class:`SigmoidActivation`. Register a new one in :data:`ACTIVATIONS`.
    """

    name: str

    def __call__(self, h: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def node_energy(self, s: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Per-sample ``sum_i Phi(s_i)`` over every dimension but the first (batch)."""
        raise NotImplementedError

    def saturated(self, s: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Boolean mask (shape of ``s``) of the units at a kink of the activation."""
        raise NotImplementedError

    def sweep_update(self) -> tuple | None:
        """The node update as a fused sweep's kernel runs it
        (:mod:`analog_ep.analog.kernels.numba_sweep`): ``(update, (slope, lo, hi, beta))``, or
        None where the kernel has no form of it (the default)."""
        return None


@dataclass(frozen=True)
class ClipActivation(Activation):
    """Hard-bounded activation ``clip(slope * h, lo, hi)``; ``linear`` when bounds are infinite.

    Node energy ``Phi(s) = s^2 / (2 slope)`` on the box ``[lo, hi]`` (the state never leaves it),
    so ``argmin_s Phi(s) - h s`` over the box is ``clip(slope * h, lo, hi)``. A unit is saturated
    at ``s <= lo`` or ``s >= hi``."""

    name: str
    slope: float = 1.0
    lo: float = -math.inf
    hi: float = math.inf

    def __call__(self, h: torch.Tensor) -> torch.Tensor:
        if self.slope != 1.0:
            h = h * self.slope
        if math.isinf(self.lo) and math.isinf(self.hi):
            return h
        return h.clamp(self.lo, self.hi)

    def node_energy(self, s: torch.Tensor) -> torch.Tensor:
        q = 1.0 / self.slope
        return 0.5 * q * s.reshape(s.shape[0], -1).pow(2).sum(1)

    def saturated(self, s: torch.Tensor) -> torch.Tensor:
        return (s <= self.lo) | (s >= self.hi)

    def sweep_update(self) -> tuple:
        """``clip(slope h, lo, hi)``: the fused sweep's ``clip`` update."""
        return "clip", (self.slope, self.lo, self.hi, 0.0)


@dataclass(frozen=True)
class SigmoidActivation(Activation):
    """Logistic sigmoid ``s = 1 / (1 + exp(-h))`` (the hidden layer of aihwkit's examples and of
    the common analog-training baselines).

    Node energy: Hopfield's (1984) ``Phi(s) = int_0^s sigma^{-1}(v) dv = s ln s + (1 - s) ln(1 - s)``
    (with ``0 ln 0 = 0``), strictly convex on (0, 1) with ``Phi'(s) = ln(s / (1 - s))``, so the
    block minimizer of ``Phi(s) - h s`` is exactly ``sigmoid(h)``. Smooth: no unit is ever
    saturated (EP is exact to O(beta^2) everywhere)."""

    name: str = "sigmoid"

    def __call__(self, h: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(h)

    def node_energy(self, s: torch.Tensor) -> torch.Tensor:
        s = s.reshape(s.shape[0], -1)
        r = 1.0 - s
        return (torch.xlogy(s, s) + torch.xlogy(r, r)).sum(1)

    def saturated(self, s: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(s, dtype=torch.bool)


ACTIVATIONS: dict[str, Activation] = {
    "clamp": ClipActivation("clamp", 1.0, 0.0, 1.0),
    "hard_sigmoid": ClipActivation("hard_sigmoid", 0.5, 0.0, 1.0),
    "relu6": ClipActivation("relu6", 1.0, 0.0, 6.0),
    "sigmoid": SigmoidActivation(),
    "linear": ClipActivation("linear"),
}
"""Hidden-node (and output: ``linear``) activations of the Hopfield-type models by name; the
names a config may give are :data:`analog_ep.config.model_specs.HOPFIELD_ACTIVATIONS`."""


@dataclass
class Edge:
    pre: int
    post: int
    synapse: Synapse
    scale: float = 1.0
    """Fixed digital gain on the read (predictive coding's muPC scalings; 1 elsewhere)."""
    preact: str | None = None
    """Activation applied to the pre state before the read (muPC's phi before the linear map)."""


@dataclass(frozen=True)
class SweepStep:
    """One colour group of a fused asynchronous sweep (:meth:`EnergyNetwork.sweep_plan`): node
    ``node`` (1-based) gets ``update(const[node - 1] + read)``, ``read`` the storage's planned read
    ``kind`` (``dense_forward`` / ``dense_transposed``) of node ``src``'s state."""

    node: int
    src: int
    storage: object
    """The synapse's storage (an :class:`~analog_ep.analog.storage.AnalogStorage`)."""
    kind: str
    read_plan: tuple
    """The storage's one-tile kernel plan of the read (:meth:`~analog_ep.analog.storage.AnalogStorage.sweep_read_plan`)."""
    update: str
    """``clip`` (``clip(slope h, lo, hi)``; the free output: slope 1, no bounds), ``mse``
    (``(h + beta y) / (1 + beta)``) or ``clamp`` (``h + beta (y - h)``): :meth:`EnergyNetwork.node_update`."""
    params: tuple
    """(slope, lo, hi, beta) of the update (dimensionless; bounds in state units)."""
    target: torch.Tensor | None = None
    """The output's target ``y`` (B, n) for the nudges; None elsewhere."""
    weight_floor: tuple | None = None
    """The read's weight-noise floor term ``(cw, norm)`` (the synapse's
    :meth:`~analog_ep.synapses.base.Synapse.weight_floor` of the read's direction; None: none), the
    same term :meth:`EnergyNetwork.read_floors` gives the generic sweep's threshold."""


SWEEP_NUDGES: dict[str, str] = {"mse": "mse", "clamp": "clamp"}
"""``ep.nudge`` -> the fused sweep's update of a nudged output (:meth:`EnergyNetwork.node_update`'s
``(h + beta y) / (1 + beta)`` and ``h + beta (y - h)``); a nudge not listed has no fused form."""

NOISE_GAINS: dict[str, Callable[..., float]] = {
    "clip": lambda slope, lo, hi, beta: abs(slope),
    "mse": lambda slope, lo, hi, beta: 1.0 / abs(1.0 + beta),
    "clamp": lambda slope, lo, hi, beta: abs(1.0 - beta),
}
"""A node update in its fused form (:meth:`EnergyNetwork.sweep_update`: ``(update, (slope, lo, hi,
beta))``) -> the factor by which it passes its drive's read noise to the state where it does
not clip: ``clip(slope h)`` ``|slope|``, ``(h + beta y) / (1 + beta)`` ``1 / |1 + beta|``,
``h + beta (y - h)`` ``|1 - beta|`` (:meth:`EnergyNetwork.read_floors`)."""

_LINEAR = ClipActivation("linear")


def _gain(entry, g: float):
    """An :meth:`EnergyNetwork.energy_grad_terms` entry times ``g``: a weight's terms
    ``(post, pre, coef)`` with ``coef * g``, a bias's gradient tensor times ``g``."""
    if g == 1.0:
        return entry
    if isinstance(entry, torch.Tensor):
        return entry * g
    return [(post, pre, coef * g) for post, pre, coef in entry]


class EnergyNetwork(nn.Module):
    """A layered or general graph of state nodes coupled by synapses.

    Subclasses call :meth:`add_node` and :meth:`add_edge` in ``__init__``. The last node added is
    the output. Everything here works on lists of states ``[s_1, ..., s_L]`` (index ``k-1`` holds
    node ``k``).

    ``energy_kind`` names the energy for the solver registry (:mod:`analog_ep.solvers`) and
    ``learning_rules`` maps each ``algorithm`` to the learning rule it means for this model
    (:mod:`analog_ep.algorithms.rules`): the one place where a model family's rules are chosen.
    """

    energy_kind = "hopfield"
    learning_rules = LEARNING_RULES["hopfield"]
    bn_update = False
    """Whether a batch-statistics BatchNorm pass also moves the running statistics (only
    :class:`~analog_ep.models.pcn.PCNetwork` has BatchNorm; see :meth:`moving_bn_stats`)."""
    device_card = None
    periphery = None
    """The device card and effective periphery in effect (set by
    :func:`analog_ep.train.build.build_model`; None: digital, or a model built without it)."""

    def __init__(self, in_shape: tuple[int, ...]):
        super().__init__()
        self.in_shape = tuple(in_shape)
        self.node_shapes: list[tuple[int, ...]] = []
        self.activations: list[Activation] = []
        self.edges: list[Edge] = []
        self.synapses = nn.ModuleList()
        self.biases = nn.ParameterList()
        self._in_edges: list[list[Edge]] = []
        self._out_edges: list[list[Edge]] = []
        self._colouring: list[list[int]] | None = None
        # auxiliary softmax readouts on intermediate nodes (intermediate error signals): their
        # cross-entropies enter the nudged energy only, with the weight aux_node_weight names, and
        # nudge node aux_nodes[i] toward the aux target
        self.aux_nodes: list[int] = []
        self.aux_readouts = nn.ModuleList()
        self.aux_biases = nn.ParameterList()
        self.aux_kappa = 1.0
        self.colouring_method = "greedy"
        self.nudge = "mse"  # "mse": beta C inside the energy; "clamp": s_L <- (1 - beta) h_L + beta y
        self.feedback_scale = 1.0  # eps: node weights mu_k = eps^(k-1) in the energy (configure)
        self.feedback_update = "local"  # "gradient": EP's update times mu_theta / mu_C (configure)
        self.aux_weight = "local"  # "objective": aux readouts' cross-entropies weighted mu_C (configure)
        self.phase_counts = PhaseCounter()  # per-phase samples / sweeps / neuron updates (event counts)

    def configure(self, *, nudge: str, colouring: str, feedback_scale: float | None = None,
                  feedback_update: str | None = None, aux_weight: str | None = None) -> None:
        """Set the output nudge (``ep.nudge``), the async colouring method
        (``solver.colouring``), the feedback scale (``model.feedback_scale``, :meth:`node_weight`),
        what the parameter update is under it (``model.feedback_update``, :meth:`ep_grad_scales`)
        and the auxiliary readouts' weight in it (``model.aux_weight``, :meth:`aux_node_weight`),
        and validate the colouring now (a bad one is a config error, not a crash mid-run). The
        last three keep their current value where not given (a new model's: 1, local, local)."""
        self.nudge = nudge
        if feedback_scale is not None:
            self.feedback_scale = float(feedback_scale)
        if feedback_update is not None:
            self.feedback_update = feedback_update
        if aux_weight is not None:
            self.aux_weight = aux_weight
        self.colouring_method = colouring
        self._colouring = None
        self.colouring()

    @contextlib.contextmanager
    def moving_bn_stats(self, update: bool = True):
        """Within: BatchNorm passes in training mode move the running statistics when ``update``
        (the previous setting is restored after)."""
        before = self.bn_update
        self.bn_update = update
        try:
            yield
        finally:
            self.bn_update = before

    # ----------------------------------------------------------------- construction
    def add_node(self, shape: tuple[int, ...], activation: str) -> int:
        self.node_shapes.append(tuple(shape))
        self.activations.append(ACTIVATIONS[activation])
        self.biases.append(nn.Parameter(torch.zeros(shape)))
        self._in_edges.append([])
        self._out_edges.append([])
        return len(self.node_shapes)  # node index (input is 0)

    def add_edge(self, pre: int, post: int, synapse: Synapse) -> None:
        e = Edge(pre, post, synapse)
        self.edges.append(e)
        self.synapses.append(synapse)
        self._in_edges[post - 1].append(e)
        if pre > 0:
            self._out_edges[pre - 1].append(e)
        self._colouring = None

    def add_aux_readout(self, k: int, synapse: Synapse) -> None:
        """Attach an auxiliary softmax readout ``softmax(W s_k + b)`` to node ``k``."""
        if not 1 <= k < len(self.node_shapes):
            raise ConfigError(f"model.aux_nodes: node {k} is not an intermediate node (valid: 1..{len(self.node_shapes) - 1})")
        self.aux_nodes.append(k)
        self.aux_readouts.append(synapse)
        self.aux_biases.append(nn.Parameter(torch.zeros(synapse.out_shape)))

    @staticmethod
    def split_target(target):
        """``target`` is the one-hot label, or a pair (label, aux target) when auxiliary readouts
        learn from other targets (e.g. knowledge distillation)."""
        if isinstance(target, (tuple, list)):
            return target[0], target[1]
        return target, target

    @property
    def num_nodes(self) -> int:
        return len(self.node_shapes)

    @property
    def out_features(self) -> int:
        return math.prod(self.node_shapes[-1])

    # ----------------------------------------------------------------- graph
    def colouring(self) -> list[list[int]]:
        """Proper colouring of the state-node graph (input excluded): ``greedy`` (default) or
        ``odd_even`` (layer parity, checked to be proper).

        Nodes of one colour share no synapse, so updating a whole colour at once is an exact
        block-coordinate minimization of the energy. Layered chains get odd/even layers.
        """
        if self._colouring is None and self.colouring_method == "odd_even":
            groups = [[k for k in range(1, self.num_nodes + 1) if k % 2 == 1],
                      [k for k in range(1, self.num_nodes + 1) if k % 2 == 0]]
            for e in self.edges:
                if e.pre > 0 and e.pre % 2 == e.post % 2:
                    raise ConfigError(f"solver.colouring: odd_even is not a proper colouring of this network "
                                      f"(synapse {e.pre}->{e.post} joins two nodes of one parity); use greedy")
            self._colouring = [g for g in groups if g]
        if self._colouring is None:
            colour: dict[int, int] = {}
            for k in range(1, self.num_nodes + 1):
                used = set()
                for e in self._in_edges[k - 1]:
                    if e.pre in colour:
                        used.add(colour[e.pre])
                for e in self._out_edges[k - 1]:
                    if e.post in colour:
                        used.add(colour[e.post])
                c = 0
                while c in used:
                    c += 1
                colour[k] = c
            groups: list[list[int]] = [[] for _ in range(max(colour.values()) + 1)]
            for k, c in colour.items():
                groups[c].append(k)
            self._colouring = groups
        return self._colouring

    # ----------------------------------------------------------------- hardware hooks
    def all_synapses(self) -> list[Synapse]:
        return [e.synapse for e in self.edges] + list(self.aux_readouts)

    def begin_batch(self) -> None:
        """Tell the synapses' storages a mini-batch starts (read-noise policy)."""
        for syn in self.all_synapses():
            syn.storage.begin_batch()

    def begin_phase(self, name: str) -> None:
        """Tell the synapses' storages a relaxation phase starts (read-noise policy) and that their
        events count under phase ``name`` (:data:`~analog_ep.synapses.counters.PHASES`)."""
        self.phase_counts.set_phase(name)
        for syn in self.all_synapses():
            syn.storage.begin_phase(name)

    def tag_phase(self, name: str) -> None:
        """Count the events from now on under phase ``name``, without starting a read-noise phase
        (the backprop twin's forward and backward passes, predictions)."""
        self.phase_counts.set_phase(name)
        for syn in self.all_synapses():
            syn.storage.events.set_phase(name)

    def count_phase(self, samples: int, sweeps: int, neuron_updates: int | None = None) -> None:
        """Count a relaxation (or pass) of the current phase: ``samples`` samples, ``sweeps``
        solver sweeps, ``neuron_updates`` node updates (default ``sweeps * samples *``
        :meth:`neurons_per_sweep`)."""
        if neuron_updates is None:
            neuron_updates = sweeps * samples * self.neurons_per_sweep()
        self.phase_counts.add(samples, sweeps, neuron_updates)

    def neurons_per_sweep(self) -> int:
        """Neurons one sweep updates: every free node (nodes 1..L)."""
        return sum(math.prod(s) for s in self.node_shapes)

    def set_event_counting(self, enabled: bool) -> None:
        """``compute.count_events``: count hardware events (True) or skip all counting."""
        self.phase_counts.enabled = bool(enabled)
        for syn in self.all_synapses():
            syn.storage.events.enabled = bool(enabled)

    def event_counts(self) -> dict:
        """The event-count record (cumulative since the model was built; issue 19's contract, see
        :mod:`analog_ep.synapses.counters`): ``{"layers": [...], "phases": {...}}``, one layer per
        synapse storage in :meth:`all_synapses` order, plain host ints and floats (one host read
        per storage)."""
        names = {id(m): n for n, m in self.named_modules()}
        layers = [syn.storage.event_record(names.get(id(syn), f"synapse{i}"))
                  for i, syn in enumerate(self.all_synapses())]
        return {"layers": layers, "phases": self.phase_counts.counts()}

    def sum_event_counts(self, all_reduce_, rank: int, world: int) -> None:
        """Data parallel: every storage's counts and the phase counts summed over the ranks (each
        rank counted its own shard), so every replica holds the whole chip's counts."""
        for syn in self.all_synapses():
            syn.storage.sum_counters(all_reduce_)
        self.phase_counts.sum_over_ranks(all_reduce_, rank, world, self.biases[0].device)

    # ----------------------------------------------------------------- states
    def zero_state(self, batch: int, like: torch.Tensor | None = None) -> list[torch.Tensor]:
        dtype = like.dtype if like is not None else self.biases[0].dtype
        device = like.device if like is not None else self.biases[0].device
        return [torch.zeros(batch, *s, dtype=dtype, device=device) for s in self.node_shapes]

    def const_drive(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The part of each node's drive that does not change during relaxation: the bias plus
        the reads of the clamped input (computed once per mini-batch)."""
        out = []
        for k in range(1, self.num_nodes + 1):
            h = self.biases[k - 1].expand(x.shape[0], *self.node_shapes[k - 1])
            for e in self._in_edges[k - 1]:
                if e.pre == 0:
                    h = h + e.synapse.read(x)
            out.append(h)
        return out

    @property
    def readout(self) -> bool:
        """True when the output node is a softmax readout outside the energy (cross-entropy
        nudge, Laborieux et al. 2021): it sends no feedback, and the nudge reaches the last
        hidden node as ``-beta W_out^T (softmax(s_L) - y)``."""
        return self.nudge == "cross_entropy"

    def node_weight(self, k: int) -> float:
        """``mu_k = eps^(k-1)``, node ``k``'s weight in the energy with ``eps`` =
        ``model.feedback_scale`` (1: every weight 1, the plain energy). The weighted energy is

            E_mu(s) = sum_k mu_k [Phi_k(s_k) - <b_k, s_k> - sum_{in-edges e of k} <s_k, read_e(s_pre)>],

        so node ``k``'s block minimiser is ``sigma_k(b_k + sum_in read(s_pre) + sum_out
        (mu_post / mu_k) read_t(s_post))``: every transposed read of an out-edge inside the
        energy is multiplied by ``mu_post / mu_k`` (:meth:`feedback_gain`: ``eps`` for a chain,
        ``eps^2`` for a skip k -> k+2), the forward reads unchanged. On a tile: a fixed periphery
        gain on the transposed read's output, the read itself as before. The cost enters as
        ``beta * mu_C * C`` (:meth:`cost_node`), so the output's nudged update and the readout's
        nudge of node ``L-1`` keep their form; each auxiliary readout's cross-entropy enters with
        the weight :meth:`aux_node_weight` names."""
        eps = self.feedback_scale
        return 1.0 if eps == 1.0 else eps ** (k - 1)

    def aux_node_weight(self, k: int) -> float:
        """The weight with which the cross-entropy of the auxiliary readout on node ``k`` enters
        the energy, ``beta * aux_kappa * w * CE_k`` (``model.aux_weight``): ``local``, node ``k``'s own
        ``mu_k`` (node ``k`` gets ``beta * aux_kappa`` of its readout's error, as at eps 1, and the
        objective weights ``CE_k`` by ``mu_k / mu_C = eps^(k-C)``); ``objective``, the cost's
        ``mu_C`` (node ``k`` gets ``beta * aux_kappa * eps^(C-k)`` of it, as much as the output's
        nudge reaching node ``k`` is attenuated, and the objective weights every ``CE_k`` by
        ``aux_kappa``: the feed-forward twin's). Equal at eps 1."""
        return self.node_weight(self.cost_node() if self.aux_weight == "objective" else k)

    def feedback_gain(self, e: Edge) -> float:
        """The fixed gain on edge ``e``'s transposed read in its pre node's drive:
        ``mu_post / mu_pre`` (:meth:`node_weight`; 1 at ``feedback_scale`` 1)."""
        eps = self.feedback_scale
        return 1.0 if eps == 1.0 else eps ** (e.post - e.pre)

    def cost_node(self) -> int:
        """The node whose weight ``mu_C`` multiplies the cost in the total energy: the output
        ``L`` when it is inside the energy, ``L - 1`` (the readout's input) for the cross-entropy
        readout."""
        return self.num_nodes - 1 if self.readout else self.num_nodes

    def ep_grad_scales(self) -> list[float]:
        """Per parameter of :meth:`ep_parameters`, the factor between the update EP computes
        (:meth:`energy_grad_terms`) and the gradient of :meth:`total_cost` (``F = E_mu + beta mu_C
        total_cost``): under ``model.feedback_update`` ``local`` :meth:`local_grad_scales`
        (``mu_C / mu_theta``), under ``gradient`` all 1 (the update is that gradient). All 1 at
        ``feedback_scale`` 1. Gradcheck's reference and RBP's gradient are multiplied by them, so
        EP, RBP and the reference are the same gradient, rescaled per layer or not."""
        scales = self.local_grad_scales()
        return [1.0] * len(scales) if self.feedback_update == "gradient" else scales

    def local_grad_scales(self) -> list[float]:
        """Per parameter of :meth:`ep_parameters`, ``mu_C / mu_theta``: the factor between the
        local EP term (``dF/dtheta / mu_theta`` with ``mu_theta`` the weight of the energy term
        that holds ``theta``: its node's, an auxiliary readout's :meth:`aux_node_weight`) and the
        gradient of :meth:`total_cost`. All 1 at ``feedback_scale`` 1."""
        mu_c = self.node_weight(self.cost_node())
        L = self.num_nodes

        def ratio(mu: float) -> float:
            return 1.0 if mu == mu_c else mu_c / mu

        def scale(k: int) -> float:
            return ratio(mu_c if (k == L and self.readout) else self.node_weight(k))

        return ([scale(e.post) for e in self.edges] + [scale(k) for k in range(1, L + 1)]
                + [ratio(self.aux_node_weight(k)) for k in self.aux_nodes] * 2)

    def drive(self, k: int, states: list[torch.Tensor], const: list[torch.Tensor], beta: float = 0.0,
              target: torch.Tensor | None = None) -> torch.Tensor:
        """``h_k``: the total input of node ``k`` given the current states (and, for a readout
        outside the energy, the cross-entropy nudge of strength ``beta``). Its fused form is
        :meth:`sweep_reads`: a subclass that overrides this overrides that too
        (``tests/unit/test_fused_sweep.py`` checks every model class)."""
        h = const[k - 1]
        for e in self._in_edges[k - 1]:
            if e.pre > 0:
                h = h + e.synapse.read(states[e.pre - 1])
        L = self.num_nodes
        for e in self._out_edges[k - 1]:
            if e.post == L and self.readout:
                if beta != 0.0:
                    y, _ = self.split_target(target)
                    p = torch.softmax(e.synapse.read(states[k - 1]) + self.biases[L - 1], dim=1)
                    h = h + beta * e.synapse.read_t(y - p, states[k - 1])
                continue
            r = e.synapse.read_t(states[e.post - 1], states[k - 1])
            gain = self.feedback_gain(e)
            h = h + (r if gain == 1.0 else gain * r)
        if beta != 0.0 and self.aux_kappa != 0.0 and k in self.aux_nodes:
            i = self.aux_nodes.index(k)
            _, y_aux = self.split_target(target)
            syn = self.aux_readouts[i]
            p = torch.softmax(syn.read(states[k - 1]) + self.aux_biases[i], dim=1)
            w = self.aux_node_weight(k) / self.node_weight(k)  # exactly 1 under the local aux weight
            h = h + (beta * self.aux_kappa * w) * syn.read_t(y_aux - p, states[k - 1])
        return h

    def aux_logits(self, states: list[torch.Tensor], record: list | None = None) -> list[torch.Tensor]:
        out = []
        for k, syn, b in zip(self.aux_nodes, self.aux_readouts, self.aux_biases):
            r = syn.read(states[k - 1])
            if record is not None:
                record.append((syn, states[k - 1], r))
            out.append(r + b)
        return out

    def total_cost(self, states: list[torch.Tensor], target, record: list | None = None) -> torch.Tensor:
        """Per-sample objective that EP descends: the output cost plus ``aux_kappa`` times the
        cross-entropy of every auxiliary readout against the aux target, the readout on node ``k``
        weighted by ``w_k / mu_C`` (:meth:`aux_node_weight`, :meth:`cost_node`; 1 at
        ``model.feedback_scale`` 1 or under ``model.aux_weight: objective``). ``record``: see
        :meth:`ff_states`."""
        y, y_aux = self.split_target(target)
        c = self.cost(states[-1], y)
        if self.aux_kappa != 0.0:
            mu_c = self.node_weight(self.cost_node())
            for k, logits in zip(self.aux_nodes, self.aux_logits(states, record)):
                w = self.aux_node_weight(k)
                kappa = self.aux_kappa if w == mu_c else self.aux_kappa * (w / mu_c)
                c = c - kappa * (y_aux * torch.log_softmax(logits, dim=1)).sum(1)
        return c

    def cost(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-sample cost of the output: ``1/2 ||s_L - y||^2`` (mse, clamp) or the cross-entropy
        of ``softmax(s_L)`` (cross_entropy)."""
        target, _ = self.split_target(target)
        if self.readout:
            return -(target * torch.log_softmax(output, dim=1)).sum(1)
        return 0.5 * (output - target).pow(2).reshape(output.shape[0], -1).sum(1)

    def node_update(self, k: int, h: torch.Tensor, beta: float = 0.0,
                    target: torch.Tensor | None = None) -> torch.Tensor:
        """Closed-form block minimizer of ``E + beta C`` in node ``k`` given its drive ``h``. Its
        fused form is :meth:`sweep_update`: a subclass that overrides this overrides that too."""
        if k == self.num_nodes:
            if beta == 0.0 or self.readout:
                return h
            y, _ = self.split_target(target)
            if self.nudge == "clamp":
                return h + beta * (y - h)
            return (h + beta * y) / (1.0 + beta)
        return self.activations[k - 1](h)

    def sweep_reads(self, k: int) -> list[tuple] | None:
        """:meth:`drive` of node ``k`` as a fused sweep runs it: ``[(synapse, src, direction)]``,
        the reads (``forward`` of an in-edge's pre node, ``transposed`` of an out-edge's post node)
        whose sum with ``const[k - 1]`` is the drive in every phase, or None where the drive has
        other terms (the cross-entropy readout's nudge, auxiliary readouts, the feedback gain of
        ``model.feedback_scale`` != 1)."""
        if self.readout or self.aux_nodes or self.feedback_scale != 1.0:
            return None
        return ([(e.synapse, e.pre, "forward") for e in self._in_edges[k - 1] if e.pre > 0]
                + [(e.synapse, e.post, "transposed") for e in self._out_edges[k - 1]])

    def sweep_update(self, k: int, beta: float = 0.0) -> tuple | None:
        """:meth:`node_update` of node ``k`` as a fused sweep's kernel runs it: ``(update, (slope,
        lo, hi, beta))`` (:data:`SWEEP_NUDGES` for the nudged output, the node's activation's
        :meth:`Activation.sweep_update` elsewhere; the free output is linear), or None where the
        kernel has no form of it."""
        if k == self.num_nodes and beta != 0.0:
            update = SWEEP_NUDGES.get(self.nudge)
            return None if update is None else (update, (1.0, -math.inf, math.inf, float(beta)))
        return (_LINEAR if k == self.num_nodes else self.activations[k - 1]).sweep_update()

    def read_floors(self, beta: float = 0.0) -> list[tuple] | None:
        """The read noise one sweep puts on each node's state (the noise floor of the iterative
        relaxation's residual: ``solver.noise_z``, :func:`analog_ep.solvers.base.floor_threshold`):
        per node ``k`` in order ``(gain, [(c, norm, src), ...])``, independent noise terms of the
        reads of its drive made during the sweep (:meth:`sweep_reads`; the clamped input's reads
        are made once per step, so their noise is frozen in ``const`` and sets no floor), each of
        std ``c * norm(x)`` per sample for node ``src``'s state ``x`` (``norm`` None: ``c``
        itself): per read the synapse's :meth:`~analog_ep.synapses.base.Synapse.read_floor`
        (output noise and the ADC's rounding; ``norm`` the read's ``abs_max`` scale,
        :func:`~analog_ep.synapses.base.abs_max_scale`, or None without noise management) and,
        where the read has weight read noise, its
        :meth:`~analog_ep.synapses.base.Synapse.weight_floor` as a second term; ``gain`` the node
        update's (:data:`NOISE_GAINS` of :meth:`sweep_update`). None where a node's drive or update
        has no such form or a read has no estimate."""
        out = []
        for k in range(1, self.num_nodes + 1):
            reads, form = self.sweep_reads(k), self.sweep_update(k, beta)
            if reads is None or form is None:
                return None
            terms = []
            for synapse, src, direction in reads:
                f = synapse.read_floor(direction)
                if f is None:
                    return None
                terms.append((f[0], None if f[1] is None else functools.partial(abs_max_scale, bound=f[1]), src))
                w = synapse.weight_floor(direction)
                if w is not None:
                    terms.append((w[0], w[1], src))
            update, params = form
            out.append((NOISE_GAINS[update](*params), terms))
        return out

    def sweep_plan(self, states: list[torch.Tensor], beta: float = 0.0, target=None) -> list[SweepStep] | None:
        """The asynchronous sweep as a fused kernel runs it (:mod:`analog_ep.analog.kernels.numba_sweep`),
        one :class:`SweepStep` per colour group, or None where this model's sweep is not of that
        form: each colour group one node ``k`` whose drive is ``const[k-1]`` plus one read of
        another node's state (:meth:`sweep_reads`), each node's state read by exactly one step,
        whose synapse runs it as a planned one-tile read (:meth:`~analog_ep.synapses.base.Synapse.sweep_read`:
        dense synapses on analog storage with numba kernels, one tile, no IR drop, autograd off),
        its update one the kernel has (:meth:`sweep_update`), every state, constant drive and
        target dense (B, n) in one dtype. Built once per relaxation (host checks only)."""
        if torch.is_grad_enabled():
            return None
        like = states[0]
        if any(s.dim() != 2 or s.dtype != like.dtype or s.device != like.device for s in states):
            return None
        y = None
        if beta != 0.0:
            y, _ = self.split_target(target)
            if not torch.is_tensor(y) or y.shape != states[-1].shape or y.dtype != like.dtype:
                return None
        L, steps, srcs = self.num_nodes, [], set()
        for group in self.colouring():
            if len(group) != 1:
                return None
            k = group[0]
            reads, form = self.sweep_reads(k), self.sweep_update(k, beta)
            if reads is None or len(reads) != 1 or form is None:
                return None
            synapse, src, direction = reads[0]
            read = None if src in srcs else synapse.sweep_read(direction, states[src - 1])
            if read is None:
                return None
            srcs.add(src)
            kind, plan = read
            update, params = form
            steps.append(SweepStep(k, src, synapse.storage, kind, plan, update, params, y if k == L else None,
                                   synapse.weight_floor(direction)))
        return steps if len(srcs) == L else None

    def output(self, states: list[torch.Tensor]) -> torch.Tensor:
        return states[-1]

    # ----------------------------------------------------------------- energy
    def energy(self, x: torch.Tensor, states: list[torch.Tensor]) -> torch.Tensor:
        """Per-sample energy ``E(s)`` (autograd-friendly; used by tests and gradcheck); with
        ``model.feedback_scale`` != 1 the weighted energy ``E_mu`` (:meth:`node_weight`: node
        ``k``'s terms and its in-edges' couplings times ``mu_k``)."""
        b = x.shape[0]
        e_tot = x.new_zeros(b)
        L = self.num_nodes
        for k, s in enumerate(states, start=1):
            if k == L and self.readout:
                continue
            mu = self.node_weight(k)
            if mu == 1.0:  # the plain energy's order of summation (bit-identical at eps 1)
                e_tot = e_tot + self.activations[k - 1].node_energy(s)
                e_tot = e_tot - (s * self.biases[k - 1]).reshape(b, -1).sum(1)
            else:
                e_tot = e_tot + mu * (self.activations[k - 1].node_energy(s)
                                      - (s * self.biases[k - 1]).reshape(b, -1).sum(1))
        for e in self.edges:
            if e.post == L and self.readout:
                continue
            pre = x if e.pre == 0 else states[e.pre - 1]
            post = states[e.post - 1]
            coupling = (post * e.synapse.read(pre)).reshape(b, -1).sum(1)
            mu = self.node_weight(e.post)
            e_tot = e_tot - (coupling if mu == 1.0 else mu * coupling)
        return e_tot

    def energy_grad_terms(self, x: torch.Tensor, states: list[torch.Tensor], beta: float = 0.0,
                          target: torch.Tensor | None = None) -> list:
        """``dF/dtheta`` of the total energy ``F = E + beta C`` averaged over the batch, aligned
        with :meth:`ep_parameters`, unevaluated for the weights: a weight's entry is a list of
        terms ``(post, pre, coef)`` meaning ``coef * synapse.correlate(post, pre)`` (the
        outer products a crossbar update is made of); a bias's entry is its gradient tensor.

        ``dE/dW_e = -corr(s_post, s_pre) / B`` (synapse correlate), ``dE/db_k = -mean(s_k)``.
        ``C`` depends on parameters only through a readout outside the energy:
        ``beta dC/dW_out = beta corr(softmax(s_L) - y, s_{L-1}) / B``; auxiliary readouts likewise
        with ``beta * aux_kappa``.

        With ``model.feedback_scale`` != 1 (the weighted energy ``F = E_mu + beta mu_C C + beta
        aux_kappa sum_k w_k CE_k``, :meth:`node_weight`, :meth:`aux_node_weight`) each entry is that energy's gradient
        divided by the weight ``mu_theta`` of the term that holds the parameter, i.e. the
        same local terms as above: the update is rescaled per layer (a fixed per-layer factor
        ``mu_C / mu_theta`` on the gradient of :meth:`total_cost`, :meth:`ep_grad_scales`), so no
        layer's update shrinks by ``eps^(k-1)`` below a pulse's resolution. Under
        ``model.feedback_update: gradient`` each entry is then multiplied by ``mu_theta / mu_C``
        (a fixed per-layer gain on the update): the gradient of :meth:`total_cost` itself.
        """
        b = x.shape[0]
        L = self.num_nodes
        y, y_aux = self.split_target(target)
        terms: list = []
        for e in self.edges:
            pre = x if e.pre == 0 else states[e.pre - 1]
            if e.post == L and self.readout:
                terms.append([(torch.softmax(states[L - 1], dim=1) - y, pre, beta / b)] if beta != 0.0 else [])
                continue
            terms.append([(states[e.post - 1], pre, -1.0 / b)])
        for k, s in enumerate(states, start=1):
            if k == L and self.readout:
                terms.append(beta * (torch.softmax(s, dim=1) - y).mean(0) if beta != 0.0
                             else torch.zeros_like(self.biases[k - 1]))
                continue
            terms.append(-s.mean(0))
        # auxiliary readouts: beta * kappa * dCE_aux/dtheta (local to the readout)
        scale = beta * self.aux_kappa
        errs = [torch.softmax(z, dim=1) - y_aux for z in self.aux_logits(states)] if scale != 0.0 else None
        for i, k in enumerate(self.aux_nodes):
            terms.append([(errs[i], states[k - 1], scale / b)] if errs else [])
        for i in range(len(self.aux_nodes)):
            terms.append(scale * errs[i].mean(0) if errs else torch.zeros_like(self.aux_biases[i]))
        if self.feedback_scale != 1.0:  # the update :meth:`ep_grad_scales` names (local: all gains 1)
            terms = [_gain(t, e / g) for t, e, g in zip(terms, self.ep_grad_scales(), self.local_grad_scales())]
        return terms

    def materialize(self, terms: list) -> list[torch.Tensor]:
        """Evaluate :meth:`energy_grad_terms` output into gradient tensors."""
        out = []
        for syn, p, t in zip(self.ep_synapses(), self.ep_parameters(), terms):
            if syn is None:
                out.append(t)
                continue
            g = None
            for post, pre, coef in t:
                c = coef * syn.correlate(post, pre)
                g = c if g is None else g + c
            out.append(torch.zeros_like(p) if g is None else g)
        return out

    def energy_grads(self, x: torch.Tensor, states: list[torch.Tensor], beta: float = 0.0,
                     target: torch.Tensor | None = None) -> list[torch.Tensor]:
        """``dF/dtheta`` at ``states``, aligned with :meth:`ep_parameters` (see
        :meth:`energy_grad_terms`)."""
        return self.materialize(self.energy_grad_terms(x, states, beta, target))

    def ep_parameters(self) -> list[nn.Parameter]:
        """The parameters that receive gradients and optimizer state (a weight's is its storage's
        ``param``: the weight itself, or the change proposed to an analog storage)."""
        return ([e.synapse.storage.param for e in self.edges] + list(self.biases)
                + [syn.storage.param for syn in self.aux_readouts] + list(self.aux_biases))

    def ep_storages(self) -> list:
        """Where each of :meth:`ep_parameters` lives, aligned with it: the synapse's storage for a
        weight, a :class:`~analog_ep.synapses.ParameterStorage` for a bias (digital periphery).
        Updates go through ``storage.apply_update(delta)`` only."""
        return ([e.synapse.storage for e in self.edges] + [ParameterStorage(b) for b in self.biases]
                + [syn.storage for syn in self.aux_readouts] + [ParameterStorage(b) for b in self.aux_biases])

    def stored_weights(self) -> list[torch.Tensor]:
        """Every trained value as its storage holds it (weights, biases), aligned with
        :meth:`ep_parameters` (whose weights may be the changes proposed to analog storages)."""
        with torch.no_grad():
            return [st.weight.detach() for st in self.ep_storages()]

    def free_couplings(self) -> list[Synapse]:
        """The synapses between two free nodes (every edge but those read from the clamped input
        node 0): the couplings the free phase's fixed-point map feeds back through, whose norms
        decide whether it contracts (``train.spectral_cap``)."""
        return [e.synapse for e in self.edges if e.pre != 0]

    def ep_synapses(self) -> list:
        """The synapse behind each of :meth:`ep_parameters` (None for biases), aligned with it."""
        return ([e.synapse for e in self.edges] + [None] * len(self.biases)
                + list(self.aux_readouts) + [None] * len(self.aux_biases))

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """Parameters by weight layer (synapse), each with the bias of the node it is the first
        input of; for per-layer learning rates."""
        groups = [[e.synapse.storage.param] for e in self.edges]
        for k in range(1, self.num_nodes + 1):
            first = next(i for i, e in enumerate(self.edges) if e.post == k)
            groups[first].append(self.biases[k - 1])
        for syn, b in zip(self.aux_readouts, self.aux_biases):
            groups.append([syn.storage.param, b])
        return groups

    def layer_fan_ins(self) -> list[int]:
        """Fan-in (inputs per output unit) of each of :meth:`layer_groups`' weights: in_features
        for a dense synapse, C_in k k for a convolution (``prod(weight.shape[1:])``)."""
        return [math.prod(g[0].shape[1:]) for g in self.layer_groups()]

    # ----------------------------------------------------------------- relaxation maps
    def sync_map(self, x: torch.Tensor, states: list[torch.Tensor], const: list[torch.Tensor] | None = None,
                 beta: float = 0.0, target: torch.Tensor | None = None) -> list[torch.Tensor]:
        """``T(s)``: every node updated from the old states (differentiable; used for the
        implicit gradient). Its fixed points are the equilibria of the energy."""
        const = self.const_drive(x) if const is None else const
        return [self.node_update(k, self.drive(k, states, const, beta, target), beta, target)
                for k in range(1, self.num_nodes + 1)]

    # ----------------------------------------------------------------- feed-forward twin
    def ff_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The feed-forward twin's output (see :meth:`ff_states`)."""
        return self.ff_states(x)[-1]

    def ff_states(self, x: torch.Tensor, record: list | None = None) -> list[torch.Tensor]:
        """The feed-forward twin: each node from its input edges only (no feedback), same
        synapses, biases and activations; the output is linear. ``record``: a list that gets
        ``(synapse, pre, read output)`` for every read (the backprop twin's outer-product
        vectors come from the gradients at those outputs)."""
        states: list[torch.Tensor] = []
        for k in range(1, self.num_nodes + 1):
            h = self.biases[k - 1]
            for e in self._in_edges[k - 1]:
                pre = x if e.pre == 0 else states[e.pre - 1]
                r = e.synapse.read(pre)
                if record is not None:
                    record.append((e.synapse, pre, r))
                h = h + r
            states.append(self.node_update(k, h))
        return states
