"""Predictive coding networks (PCNs) on the synapse protocol.

Nodes ``s_0 = x`` (clamped input), ``s_1 .. s_L`` (``s_L`` the linear output). Node ``k`` is
predicted from its input edges ``e = (j -> k)``:

    a_k  = sum_e c_e read_e(g_e(s_j)) + b_k                      (pre-activation)
    mu_k = act_k(a_k) + [residual_k] s_{k-1}                      (prediction f_k)
    E(s) = sum_k (pi_k / 2) ||s_k - mu_k||^2                      (DESIGN section 5)

``read_e`` is the synapse's forward read (dense, conv, conv + max-pool, strided 1x1 skip),
``c_e`` a fixed digital gain (1, or the muPC scalings), ``g_e`` an optional activation applied
before the linear map (muPC: ``phi(z)``; identity otherwise), ``pi_k`` the layer's precision.
With ``eps_k = s_k - mu_k`` and ``delta_k = pi_k act_k'(a_k) * eps_k`` every derivative is
closed form, through the synapse's transposed read and correlate only (no autograd):

    dE/ds_j = pi_j eps_j - sum_{e: j -> k} c_e g_e'(s_j) * read_t_e(delta_k)
              - [residual_{j+1}] pi_{j+1} eps_{j+1}
    dE/dW_e = -c_e correlate_e(delta_k, g_e(s_j)),     dE/db_k = -sum_batch delta_k

The top-down error of node ``j`` is ``Delta_j = pi_j eps_j - dE/ds_j`` (Kerjan, Hoier &
Scellier 2026: ``J_{f_{k+1}}(s_j)^T eps_{k+1}``, a transposed read of ``act'(a) * eps``).

The feed-forward pass ``s_k = mu_k(s_{k-1})`` makes every ``eps_k`` zero: it is the free
equilibrium (``E = 0``) and it is the backprop twin (:meth:`ff_states`), so EP on a PCN, PC
inference learning and backprop share initialization and forward computation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .base import EnergyNetwork
from ..config.model_specs import LEARNING_RULES, PCN_VGG_LAYOUTS  # noqa: F401  (PCN_VGG_LAYOUTS re-exported)


def _gelu_grad(x: torch.Tensor) -> torch.Tensor:
    """d gelu(x)/dx = Phi(x) + x phi(x) (exact erf form)."""
    cdf = 0.5 * (1.0 + torch.erf(x * (1.0 / math.sqrt(2.0))))
    pdf = torch.exp(-0.5 * x * x) * (1.0 / math.sqrt(2.0 * math.pi))
    return cdf + x * pdf


LEAKY_SLOPE = 0.01
"""Negative slope of ``leaky_relu`` (PyTorch's default)."""

PC_ACTIVATIONS = {
    "relu": (lambda x: x.clamp_min(0.0), lambda x: (x > 0).to(x.dtype)),
    "leaky_relu": (lambda x: F.leaky_relu(x, LEAKY_SLOPE),
                   lambda x: torch.where(x > 0, torch.ones_like(x), torch.full_like(x, LEAKY_SLOPE))),
    "gelu": (F.gelu, _gelu_grad),
    "hard_tanh": (lambda x: x.clamp(-1.0, 1.0), lambda x: ((x > -1) & (x < 1)).to(x.dtype)),
    "tanh": (torch.tanh, lambda x: 1.0 - torch.tanh(x) ** 2),
    "sigmoid": (torch.sigmoid, lambda x: torch.sigmoid(x) * (1.0 - torch.sigmoid(x))),
    "linear": (lambda x: x, lambda x: torch.ones_like(x)),
}
"""Activation name -> (function, derivative). The derivative of relu at 0 is taken as 0."""

PC_ACT_GRAD_MUL = {
    "relu": lambda a, e: torch.ops.aten.threshold_backward(e, a, 0.0),
    "leaky_relu": lambda a, e: torch.ops.aten.leaky_relu_backward(e, a, LEAKY_SLOPE, False),
    "hard_tanh": lambda a, e: torch.ops.aten.hardtanh_backward(e, a, -1.0, 1.0),
    "linear": lambda a, e: e,
}
"""Activation name -> ``(a, e) -> act'(a) * e`` in one kernel (torch's relu, leaky relu and hard
tanh backward kernels; ``e`` itself for linear): the same values as ``PC_ACTIVATIONS[name][1](a) *
e`` without building the derivative (relu' as a cast mask costs several times the product). The
activations not listed multiply (:meth:`PCNetwork.act_grad_mul`)."""


def _act_grad_mul(name: str, a: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
    fused = PC_ACT_GRAD_MUL.get(name)
    return fused(a, e) if fused is not None else PC_ACTIVATIONS[name][1](a) * e


def pc_activation(name: str):
    if name not in PC_ACTIVATIONS:
        raise ConfigError(f"model.activation: {name!r} is not a predictive-coding activation; valid: "
                          f"{', '.join(sorted(PC_ACTIVATIONS))}")
    return PC_ACTIVATIONS[name]


class PCBatchNorm(nn.Module):
    """BatchNorm of a node's pre-activation, ``a = gamma (r - m) / sqrt(v + eps) + beta`` per
    channel (dim 1; statistics over batch and space), written out so that its transpose is
    closed form (Ioffe & Szegedy 2015). It lives in the digital periphery.

    * batch statistics (``training``): ``m, v`` of the current batch (biased variance); its
      transpose ``dr = gamma / sqrt(v + eps) (d - mean(d) - xhat mean(d xhat))`` couples the
      batch as the forward map does. When ``update`` the running statistics move by
      ``momentum`` (unbiased variance), as ``torch.nn.BatchNorm`` does on each forward call.
    * running statistics (evaluation): an affine map, transpose ``gamma / sqrt(v_run + eps) d``.

    Which passes update the running statistics is the learning rule's choice: every pass that
    computes predictions (PC inference steps included; PCX's behaviour) or, with BatchNorm
    freezing (Qi et al. 2025), once per batch: the weight-update pass, or with forward updates
    the forward pass.
    """

    def __init__(self, channels: int, dtype=torch.float32, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels, dtype=dtype))
        self.bias = nn.Parameter(torch.zeros(channels, dtype=dtype))
        self.register_buffer("running_mean", torch.zeros(channels, dtype=dtype))
        self.register_buffer("running_var", torch.ones(channels, dtype=dtype))
        self.momentum, self.eps = momentum, eps

    def _shape(self, r: torch.Tensor):
        return (1, -1) + (1,) * (r.dim() - 2)

    def forward(self, r: torch.Tensor, batch_stats: bool, update: bool = False):
        """``(a, ctx)``; ``ctx`` what :meth:`backward` needs."""
        shp = self._shape(r)
        dims = [0] + list(range(2, r.dim()))
        if batch_stats:
            m = r.mean(dims)
            v = r.var(dims, unbiased=False)
            if update:
                n = r.numel() // r.shape[1]
                with torch.no_grad():
                    self.running_mean.mul_(1 - self.momentum).add_(self.momentum * m.detach())
                    self.running_var.mul_(1 - self.momentum).add_(self.momentum * v.detach() * n / max(n - 1, 1))
        else:
            m, v = self.running_mean, self.running_var
        inv = torch.rsqrt(v + self.eps)
        xhat = (r - m.reshape(shp)) * inv.reshape(shp)
        return xhat * self.weight.reshape(shp) + self.bias.reshape(shp), (xhat, inv, batch_stats, dims)

    def backward(self, d: torch.Tensor, ctx):
        """``(d r, (sum d xhat, sum d))``: the transpose of the map at ``ctx`` applied to ``d``,
        and ``d`` correlated with gamma's and beta's inputs (batch-summed)."""
        xhat, inv, batch_stats, dims = ctx
        shp = self._shape(d)
        g_w, g_b = (d * xhat).sum(dims), d.sum(dims)
        scale = (self.weight * inv).reshape(shp)
        if not batch_stats:
            return d * scale, (g_w, g_b)
        n = d.numel() // d.shape[1]
        return scale * (d - (g_b / n).reshape(shp) - xhat * (g_w / n).reshape(shp)), (g_w, g_b)


class PCNetwork(EnergyNetwork):
    """A predictive coding network: an :class:`EnergyNetwork` graph (nodes, synapses with their
    storages, biases) whose energy is the sum of squared prediction errors (module docstring).

    Subclasses build the graph with :meth:`add_pc_node` / :meth:`add_pc_edge`. The output node
    is linear. ``precision``: per-node ``pi_k`` (None = all 1), used by :meth:`energy` and the
    weight gradients; the activity dynamics may pass their own (precision schedules).
    """

    energy_kind = "pcn"
    learning_rules = LEARNING_RULES["pcn"]

    def __init__(self, in_shape):
        super().__init__(in_shape)
        self.pc_act_names: list[str] = []
        self.residual: list[bool] = []
        self.use_bias = True
        self.bn = nn.ModuleDict()  # str(node) -> BatchNorm of that node's pre-activation
        # filled by forward_pass / errors on every call (cleared, not replaced: a module's
        # attribute assignment costs more than the small passes it would serve)
        self._fwd_ctx: dict = {}
        self._bn_grads: dict = {}

    def add_batchnorm(self, k: int) -> None:
        """Put a :class:`PCBatchNorm` on node ``k``'s pre-activation (its bias is then BN's shift)."""
        self.bn[str(k)] = PCBatchNorm(self.node_shapes[k - 1][0], self.biases[k - 1].dtype)

    # ----------------------------------------------------------------- construction
    def add_pc_node(self, shape, activation: str, residual: bool = False) -> int:
        pc_activation(activation)
        k = self.add_node(shape, "linear")
        self.pc_act_names.append(activation)
        self.residual.append(bool(residual))
        if residual and (k < 2 or tuple(self.node_shapes[k - 2]) != tuple(shape)):
            raise ConfigError(f"model: residual node {k} needs a previous hidden node of the same shape")
        return k

    def add_pc_edge(self, pre: int, post: int, synapse, scale: float = 1.0, preact: str | None = None) -> None:
        if preact is not None:
            pc_activation(preact)
        self.add_edge(pre, post, synapse)
        self.edges[-1].scale = float(scale)
        self.edges[-1].preact = preact

    # ----------------------------------------------------------------- graph
    def colouring(self) -> list[list[int]]:
        """Even layers, then odd (Kerjan et al. 2026); checked to be a proper colouring."""
        if self._colouring is None:
            for e in self.edges:
                if e.pre > 0 and e.pre % 2 == e.post % 2:
                    raise ConfigError(f"model: synapse {e.pre}->{e.post} joins two nodes of one parity; the "
                                      "even/odd traversal of a PCN needs every edge between parities")
            L = self.num_nodes
            self._colouring = [g for g in ([k for k in range(2, L + 1, 2)], [k for k in range(1, L + 1, 2)]) if g]
        return self._colouring

    @property
    def readout(self) -> bool:
        """A PCN's output node stays inside the energy for every nudge (no softmax readout)."""
        return False

    def cost(self, output: torch.Tensor, target) -> torch.Tensor:
        """Per-sample output cost: cross-entropy of ``softmax(s_L)`` for the cross_entropy nudge,
        ``1/2 ||s_L - y||^2`` otherwise."""
        target, _ = self.split_target(target)
        if self.nudge == "cross_entropy":
            return -(target * torch.log_softmax(output, dim=1)).sum(1)
        return 0.5 * (output - target).pow(2).reshape(output.shape[0], -1).sum(1)

    def cost_grad(self, output: torch.Tensor, target) -> torch.Tensor:
        """``dC/ds_L`` per sample."""
        target, _ = self.split_target(target)
        if self.nudge == "cross_entropy":
            return torch.softmax(output, dim=1) - target
        return output - target

    # ----------------------------------------------------------------- pieces of f_k
    def _g(self, e, s: torch.Tensor) -> torch.Tensor:
        return s if e.preact is None else PC_ACTIVATIONS[e.preact][0](s)

    def _pre(self, e, x: torch.Tensor, states: list[torch.Tensor]) -> torch.Tensor:
        return x if e.pre == 0 else states[e.pre - 1]

    def preact(self, k: int, x: torch.Tensor, states: list[torch.Tensor], record: list | None = None) -> torch.Tensor:
        """``a_k = sum_e c_e read_e(g_e(s_pre)) + b_k`` (forward reads of node k's input edges),
        or ``BN(sum_e ...)`` on a node with BatchNorm. ``record`` gets ``(synapse, g(pre), raw
        read)`` per read."""
        return self._preact(k, x, states, record)[0]

    def _preact(self, k: int, x: torch.Tensor, states: list[torch.Tensor], record: list | None = None):
        """``(a_k, bn_context or None)``."""
        bn = self.bn[str(k)] if str(k) in self.bn else None
        edges = self._in_edges[k - 1]
        if bn is None and self.use_bias and record is None and len(edges) == 1 and edges[0].scale == 1.0:
            e = edges[0]  # one read plus the bias: fused where the storage can (addmm)
            return e.synapse.read_bias(self._g(e, self._pre(e, x, states)), self.biases[k - 1]), None
        r = self._reads(k, x, states, record)
        if bn is not None:
            return bn(r, self.training, self.bn_update)
        return (r + self.biases[k - 1] if self.use_bias else r), None

    def _reads(self, k: int, x: torch.Tensor, states: list[torch.Tensor], record: list | None = None) -> torch.Tensor:
        a = None
        for e in self._in_edges[k - 1]:
            g = self._g(e, self._pre(e, x, states))
            r = e.synapse.read(g)
            if record is not None:
                record.append((e.synapse, g, r))
            r = r if e.scale == 1.0 else r * e.scale
            a = r if a is None else a + r
        return a

    def predict(self, k: int, a: torch.Tensor, x: torch.Tensor, states: list[torch.Tensor]) -> torch.Tensor:
        """``mu_k = act_k(a_k) + [residual] s_{k-1}``."""
        mu = PC_ACTIVATIONS[self.pc_act_names[k - 1]][0](a)
        if self.residual[k - 1]:
            mu = mu + (x if k == 1 else states[k - 2])
        return mu

    def act_grad(self, k: int, a: torch.Tensor) -> torch.Tensor:
        return PC_ACTIVATIONS[self.pc_act_names[k - 1]][1](a)

    def act_grad_mul(self, k: int, a: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """``act_k'(a) * e``, fused where :data:`PC_ACT_GRAD_MUL` has a kernel (may return ``e``
        itself: callers never write into the result)."""
        return _act_grad_mul(self.pc_act_names[k - 1], a, e)

    def forward_pass(self, x: torch.Tensor, record: list | None = None) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """``(states, preacts)`` of the feed-forward pass ``s_k = mu_k`` (the free equilibrium)."""
        states: list[torch.Tensor] = []
        pre: list[torch.Tensor] = []
        self._fwd_ctx.clear()
        for k in range(1, self.num_nodes + 1):
            a, ctx = self._preact(k, x, states, record)
            if ctx is not None:
                self._fwd_ctx[k] = ctx
            pre.append(a)
            states.append(self.predict(k, a, x, states))
        return states, pre

    def ff_states(self, x: torch.Tensor, record: list | None = None) -> list[torch.Tensor]:
        """The feed-forward (backprop) twin: the forward pass of the prediction maps."""
        return self.forward_pass(x, record)[0]

    # ----------------------------------------------------------------- errors
    def errors(self, x: torch.Tensor, states: list[torch.Tensor], pis=None, known: dict | None = None,
               need_delta=None, only=None):
        """``(a, eps, delta)`` per node: pre-activations, prediction errors ``s_k - mu_k`` and
        ``delta_k = pi_k act_k'(a_k) eps_k``, taken back through BatchNorm's transpose on a node
        with BatchNorm (so ``delta_k`` is always the error at the sum of the reads, what the
        transposed reads and the correlates take); BatchNorm's own ``-dE/d(gamma, beta)`` are
        left in ``self._bn_grads[k]``. ``known``: node -> ``(a, ctx)`` or ``(a, ctx, mu)``
        already read (and predicted) with the same inputs (a node fed by the clamped input only
        keeps its read during inference). ``need_delta``: the nodes whose ``delta`` the caller
        uses (None = all); the others get ``delta = None``, and no BatchNorm correlations.
        ``only``: the nodes to read at all (None = all); the others get ``a = eps = delta = None``
        (the caller knows their error is zero)."""
        a_all, eps_all, d_all = [], [], []
        self._bn_grads.clear()
        for k in range(1, self.num_nodes + 1):
            if only is not None and k not in only:
                a_all.append(None)
                eps_all.append(None)
                d_all.append(None)
                continue
            got = known.get(k) if known else None
            if got is None:
                a, ctx = self._preact(k, x, states)
                mu = None
            else:
                a, ctx = got[0], got[1]
                mu = got[2] if len(got) > 2 else None
            if need_delta is not None and k not in need_delta:
                eps = states[k - 1] - (self.predict(k, a, x, states) if mu is None else mu)
                d = None
            else:
                eps, d, bn_g = self.error_at(k, a, ctx, x, states, None if pis is None else pis[k - 1], mu)
                if bn_g is not None:
                    self._bn_grads[k] = bn_g
            a_all.append(a)
            eps_all.append(eps)
            d_all.append(d)
        return a_all, eps_all, d_all

    def neighbours(self) -> tuple[dict[int, set[int]], dict[int, set[int]]]:
        """``(ins, outs)``: per node the hidden nodes its prediction reads (input edges and the
        residual source) and the nodes that read it."""
        L = self.num_nodes
        ins = {k: {e.pre for e in self._in_edges[k - 1] if e.pre > 0}
               | ({k - 1} if self.residual[k - 1] and k > 1 else set()) for k in range(1, L + 1)}
        outs = {k: {e.post for e in self._out_edges[k - 1]} | ({k + 1} if k < L and self.residual[k] else set())
                for k in range(1, L + 1)}
        return ins, outs

    def input_fed(self) -> list[int]:
        """Nodes whose prediction depends on the clamped input alone (their reads never change
        while the input is clamped)."""
        return [k for k in range(1, self.num_nodes + 1)
                if all(e.pre == 0 for e in self._in_edges[k - 1]) and not (self.residual[k - 1] and k > 1)]

    def error_at(self, k: int, a: torch.Tensor, ctx, x: torch.Tensor, states: list[torch.Tensor], pi=None,
                 mu: torch.Tensor | None = None):
        """``(eps_k, delta_k, bn_grads or None)`` of node ``k`` given its pre-activation ``a``
        (and BatchNorm context ``ctx``) as computed by :meth:`_preact` (see :meth:`errors`), and
        its prediction ``mu`` when already known."""
        eps = states[k - 1] - (self.predict(k, a, x, states) if mu is None else mu)
        d = self.act_grad_mul(k, a, eps)
        if pi is not None:
            d = d * pi
        bn_g = None
        if ctx is not None:  # delta at the reads' sum: through BatchNorm's transpose
            d, bn_g = self.bn[str(k)].backward(d, ctx)
        return eps, d, bn_g

    def topdown(self, j: int, x: torch.Tensor, states: list[torch.Tensor], eps: list, delta: list, pis=None) -> torch.Tensor:
        """``Delta_j``: the part of ``-dE/ds_j`` from the nodes ``s_j`` predicts,
        ``sum_e c_e g_e'(s_j) * read_t_e(delta_k, g_e(s_j)) + [residual] pi_{j+1} eps_{j+1}``."""
        s = states[j - 1]
        out = None  # the first term is the sum so far (0 + t is t)
        for e in self._out_edges[j - 1]:
            if delta[e.post - 1] is None:  # a node known to have zero error sends nothing
                continue
            g = self._g(e, s)
            t = e.synapse.read_t(delta[e.post - 1], g)
            if e.scale != 1.0:
                t = t * e.scale
            if e.preact is not None:
                t = _act_grad_mul(e.preact, s, t)
            out = t if out is None else out + t
        if j < self.num_nodes and self.residual[j] and eps[j] is not None:
            r = eps[j]
            r = r if pis is None else r * pis[j]
            out = r if out is None else out + r
        return torch.zeros_like(s) if out is None else out

    def state_grads(self, x: torch.Tensor, states: list[torch.Tensor], pis=None) -> tuple[list[torch.Tensor], list]:
        """``(dE/ds_k for every node, errors)``; the errors as :meth:`errors` returns them."""
        a, eps, delta = self.errors(x, states, pis)
        grads = []
        for j in range(1, self.num_nodes + 1):
            own = eps[j - 1] if pis is None else eps[j - 1] * pis[j - 1]
            grads.append(own - self.topdown(j, x, states, eps, delta, pis))
        return grads, (a, eps, delta)

    # ----------------------------------------------------------------- energy
    def layer_energies(self, x: torch.Tensor, states: list[torch.Tensor]) -> torch.Tensor:
        """Per-layer energy ``1/2 ||eps_k||^2`` averaged over the batch, shape (L,) (pi = 1)."""
        _, eps, _ = self.errors(x, states)
        b = x.shape[0]
        return torch.stack([0.5 * e.reshape(b, -1).pow(2).sum(1).mean() for e in eps])

    def energy(self, x: torch.Tensor, states: list[torch.Tensor]) -> torch.Tensor:
        """Per-sample ``E(s) = sum_k (pi_k / 2) ||s_k - mu_k||^2`` (autograd-friendly)."""
        b = x.shape[0]
        e_tot = x.new_zeros(b)
        for k in range(1, self.num_nodes + 1):
            a = self.preact(k, x, states)
            eps = states[k - 1] - self.predict(k, a, x, states)
            e_tot = e_tot + 0.5 * eps.reshape(b, -1).pow(2).sum(1)
        return e_tot

    def sync_map(self, x, states, const=None, beta: float = 0.0, target=None):
        raise ConfigError("the implicit-gradient reference is for Hopfield models; a PCN's free equilibrium is its "
                          "forward pass, so gradcheck compares with the backprop twin")

    def energy_grad_terms(self, x: torch.Tensor, states: list[torch.Tensor], beta: float = 0.0,
                          target=None, *, deltas: list | None = None, pres: list | None = None,
                          bn_grads: dict | None = None) -> list:
        """``dE/dtheta`` at ``states`` (batch mean), aligned with :meth:`ep_parameters`: a weight's
        entry ``[(delta_post, g(pre), -c_e / B)]`` (so ``grad = sum coef * correlate``), a bias's
        entry its gradient ``-mean(delta_k)``. ``deltas`` / ``pres`` replace the errors and the
        pre-synaptic states (forward updates: predictions from the initial activities), with
        ``bn_grads`` BatchNorm's correlations for them (:meth:`PCBatchNorm.backward`)."""
        b = x.shape[0]
        deltas_given = deltas is not None
        if deltas is None:
            _, _, deltas = self.errors(x, states)
        terms: list = []
        for e in self.edges:
            pre = self._pre(e, x, states) if pres is None else (x if e.pre == 0 else pres[e.pre - 1])
            terms.append([(deltas[e.post - 1], self._g(e, pre), -e.scale / b)])
        for k in range(1, self.num_nodes + 1):
            own = self.use_bias and str(k) not in self.bn
            terms.append(-deltas[k - 1].mean(0) if own else torch.zeros_like(self.biases[k - 1]))
        if not deltas_given:
            bn_grads = self._bn_grads
        bn_grads = bn_grads or {}
        for key in self.bn:
            g_w, g_b = bn_grads.get(int(key), (None, None))
            bn = self.bn[key]
            terms.append(torch.zeros_like(bn.weight) if g_w is None else -g_w / b)
            terms.append(torch.zeros_like(bn.bias) if g_b is None else -g_b / b)
        return terms

    # ----------------------------------------------------------------- parameters
    def ep_parameters(self):
        return super().ep_parameters() + [p for bn in self.bn.values() for p in (bn.weight, bn.bias)]

    def ep_storages(self):
        from ..synapses import ParameterStorage

        return super().ep_storages() + [ParameterStorage(p) for bn in self.bn.values() for p in (bn.weight, bn.bias)]

    def ep_synapses(self):
        return super().ep_synapses() + [None] * (2 * len(self.bn))

    def layer_groups(self):
        """As :meth:`EnergyNetwork.layer_groups`, BatchNorm's gamma and beta with the node's
        first input layer."""
        groups = super().layer_groups()
        for key, bn in self.bn.items():
            k = int(key)
            first = next(i for i, e in enumerate(self.edges) if e.post == k)
            groups[first] += [bn.weight, bn.bias]
        return groups


# --------------------------------------------------------------------------------------- layouts
# PCN_VGG_LAYOUTS and pcn_weight_layers live in analog_ep.config.model_specs (torch-free), where the model specs
# count the layers from the same tables.


class PCNVGG(PCNetwork):
    """PCN VGG family (``pcn_vgg5``, ``pcn_vgg7``, ``pcn_vgg10``, ``pcn_vgg10skip``, ``pcn_vgg10qi``,
    ``pcn_vgg15``):
    ``f_k = act o pool o conv`` (or ``act o conv``; pooled stages are :class:`ConvPool` synapses,
    so the crossbar reads the conv and the periphery pools), dense hidden layers ``act o dense``,
    linear output. ``channels`` / ``paddings`` override the layout's (one entry per conv);
    28x28 inputs are zero-padded to 32x32 by the first convolution. Skips ``j -> k`` are strided
    1x1 convolutions added to ``a_k`` after the pool (VGG10Skip: 2 -> 5 and 5 -> 8).

    Init U(+-gain sqrt(1/fan)) with fan the layout's ``fan_in`` / ``fan_out`` (``fan``
    overrides), ``gains`` one per weight tensor (convs, dense, output, skips), default 1.
    """

    def __init__(self, name, in_shape, num_classes, channels=None, paddings=None, activation="relu",
                 gains=None, fan=None, generator=None, batchnorm=False):
        from ..synapses import Conv, ConvPool, Dense, Skip

        super().__init__(in_shape)
        lay = PCN_VGG_LAYOUTS[name]
        channels = list(channels or lay["channels"])
        paddings = list(paddings if paddings is not None else lay["paddings"])
        n_conv = len(lay["channels"])
        if len(channels) != n_conv:
            raise ConfigError(f"model.channels: {name} has {n_conv} conv layers, got {len(channels)} widths")
        if len(paddings) != n_conv:
            raise ConfigError(f"model.paddings: {name} has {n_conv} conv layers, got {len(paddings)} paddings")
        if len(in_shape) != 3:
            raise ConfigError(f"model.name: {name} needs image inputs (C, H, W), got shape {tuple(in_shape)}")
        skips = lay.get("skips", [])
        n_w = n_conv + len(lay["dense"]) + 1 + len(skips)
        if gains is not None and len(gains) != n_w:
            raise ConfigError(f"model.gains: {name} has {n_w} weight tensors, got {len(gains)} gains")
        gains = list(gains) if gains is not None else [1.0] * n_w
        fan = fan or lay["fan"]
        extra = 2 if in_shape[1] == 28 and in_shape[2] == 28 else 0

        def fan_gain(syn):
            w = syn.weight
            fan_in = math.prod(w.shape[1:])
            fan_out = w.shape[0] * (math.prod(w.shape[2:]) if w.dim() > 2 else 1)
            if fan == "fan_out":
                with torch.no_grad():
                    w.mul_(math.sqrt(fan_in / fan_out))
            return syn

        shape = tuple(in_shape)
        gi = 0
        for i, (c, p, pool) in enumerate(zip(channels, paddings, lay["pools"])):
            pad = p + (extra if i == 0 else 0)
            try:
                syn = (ConvPool(shape, c, 3, padding=pad, gain=gains[gi], generator=generator) if pool
                       else Conv(shape, c, 3, stride=1, padding=pad, gain=gains[gi], generator=generator))
            except ConfigError as e:
                raise ConfigError(f"data.shape: {name} cannot take {tuple(in_shape)} inputs at conv layer {i + 1} "
                                  f"({e}); use 32x32 / 64x64 / 224x224 images (28x28 is padded)") from None
            gi += 1
            node = self.add_pc_node(syn.out_shape, activation)
            self.add_pc_edge(node - 1, node, fan_gain(syn))
            shape = syn.out_shape
        for width in lay["dense"]:
            syn = fan_gain(Dense(shape, width, gains[gi], generator))
            gi += 1
            node = self.add_pc_node((width,), activation)
            self.add_pc_edge(node - 1, node, syn)
            shape = (width,)
        syn = fan_gain(Dense(shape, num_classes, gains[gi], generator))
        gi += 1
        node = self.add_pc_node((num_classes,), "linear")
        self.add_pc_edge(node - 1, node, syn)
        for j, k in skips:
            src, dst = self.node_shapes[j - 1], self.node_shapes[k - 1]
            stride = src[1] // dst[1]
            syn = fan_gain(Skip(src, dst, stride=stride, gain=gains[gi], generator=generator))
            gi += 1
            self.add_pc_edge(j, k, syn)
        if batchnorm:
            for k in range(1, self.num_nodes):
                self.add_batchnorm(k)


class MuPCResMLP(PCNetwork):
    """muPC residual MLP (Innocenti et al. 2025): width ``N``, ``depth`` L weight layers,

        z_1 = a_1 W_1 x,   z_l = z_{l-1} + a_l W_l phi(z_{l-1})  (l = 2 .. L-1),
        z_L = a_L W_L phi(z_{L-1}),

    Depth-muP scalings ``a_1 = 1/sqrt(D)`` (D input features), ``a_l = 1/sqrt(N L)``,
    ``a_L = 1/N``; weights N(0, 1) (times ``gains``), no biases; ``phi`` before the linear map.
    The energy is the PCN energy of these predictions (module docstring)."""

    def __init__(self, in_shape, width, depth, num_classes, activation="relu", gains=None, generator=None):
        from ..synapses import Dense

        super().__init__(in_shape)
        if depth < 2:
            raise ConfigError(f"model.depth: mupc_resmlp needs depth >= 2 weight layers, got {depth}")
        if gains is not None and len(gains) != depth:
            raise ConfigError(f"model.gains: mupc_resmlp has {depth} weight layers, got {len(gains)} gains")
        gains = list(gains) if gains is not None else [1.0] * depth
        d_in = math.prod(in_shape)
        self.use_bias = False

        def normal(syn, g):
            with torch.no_grad():
                w = syn.weight
                w.copy_(torch.randn(w.shape, generator=generator, dtype=w.dtype) * g)
            return syn

        node = self.add_pc_node((width,), "linear")
        self.add_pc_edge(0, node, normal(Dense(in_shape, width, 1.0, generator), gains[0]), scale=1 / math.sqrt(d_in))
        for l in range(2, depth):
            node = self.add_pc_node((width,), "linear", residual=True)
            self.add_pc_edge(node - 1, node, normal(Dense((width,), width, 1.0, generator), gains[l - 1]),
                             scale=1 / math.sqrt(width * depth), preact=activation)
        node = self.add_pc_node((num_classes,), "linear")
        self.add_pc_edge(node - 1, node, normal(Dense((width,), num_classes, 1.0, generator), gains[-1]),
                         scale=1 / width, preact=activation)


class PCNMLP(PCNetwork):
    """Layered PCN with dense predictions ``f_k = act o dense`` (``hidden`` widths), linear output
    (the MLP of the predictive-coding libraries' examples). Init U(+-gain/sqrt(fan_in))."""

    def __init__(self, in_shape, hidden, num_classes, activation="relu", gains=None, generator=None, batchnorm=False):
        from ..synapses import Dense

        super().__init__(in_shape)
        widths = list(hidden) + [num_classes]
        if gains is not None and len(gains) != len(widths):
            raise ConfigError(f"model.gains: pcn_mlp has {len(widths)} weight layers, got {len(gains)} gains")
        gains = list(gains) if gains is not None else [1.0] * len(widths)
        shape = tuple(in_shape)
        for i, w in enumerate(widths):
            node = self.add_pc_node((w,), "linear" if i == len(widths) - 1 else activation)
            self.add_pc_edge(node - 1, node, Dense(shape, w, gains[i], generator))
            shape = (w,)
        if batchnorm:
            for k in range(1, self.num_nodes):
                self.add_batchnorm(k)
