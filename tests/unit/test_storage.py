"""The analog storage a synapse owns: pulse updates (rounded, bitstream, mixed, ideal) with the BL
cap, read-noise sharing between forward and transposed reads, the straight-through estimator."""

import pytest
import torch

from analog_ep.analog import population as PO
from analog_ep.analog import rules as RU
from analog_ep.analog.cards import load_device
from analog_ep.analog.periphery import PeripheryParams
from analog_ep.analog.storage import AnalogStorage

STEP = RU.ConstantStep(dw_min=0.01)  # constant steps, no noise: one pulse = exactly dw_min


def _store(w, params=STEP, periph=None, **kw):
    return AnalogStorage(w, params, periph or PeripheryParams(), **kw)


def test_rounded_update_realizes_whole_pulses():
    s = _store(torch.full((3, 4), 0.1), rounding="deterministic")
    step = s.w_scale * STEP.dw_min
    before = s.weight.detach().clone()
    delta = torch.tensor([[2.4, -1.6, 0.2, 3.4]] * 3) * step
    s.apply_update(delta)
    torch.testing.assert_close(s.weight - before, torch.round(delta / step) * step, atol=1e-6, rtol=0)
    assert int(s.pulses) == 3 * (2 + 2 + 0 + 3)
    assert s.wear.tolist() == [[2, 2, 0, 3]] * 3


@pytest.mark.parametrize("update", ["pulsed", "mixed"])
def test_an_update_sends_at_most_bl_pulses_per_device(update):
    # a desired change of 500 pulses: the hardware sends bl (the old code sent all 500)
    s = _store(torch.full((4, 5), 0.01), update=update, rounding="deterministic", bl=31)
    step = s.w_scale * STEP.dw_min
    before = s.weight.detach().clone()
    s.apply_update(torch.full((4, 5), 500 * step))
    torch.testing.assert_close(s.weight - before, torch.full((4, 5), 31 * step), atol=1e-5, rtol=0)
    assert int(s.pulses) == 31 * 20 and int(s.wear.max()) == 31
    if update == "mixed":  # the rest stays in the accumulator for later transfers
        torch.testing.assert_close(s.chi, torch.full((4, 5), 469 * STEP.dw_min), atol=1e-4, rtol=0)


def test_mixed_precision_accumulates_subthreshold_updates():
    s = _store(torch.full((2, 2), 0.1), update="mixed")
    step = s.w_scale * STEP.dw_min
    before = s.weight.detach().clone()
    for _ in range(3):
        s.apply_update(torch.full((2, 2), 0.4 * step))
    torch.testing.assert_close(s.weight - before, torch.full((2, 2), step), atol=1e-6, rtol=0)
    torch.testing.assert_close(s.chi, torch.full((2, 2), 0.2 * STEP.dw_min), atol=1e-7, rtol=0)
    rounded = _store(torch.full((2, 2), 0.1), rounding="deterministic")
    for _ in range(3):
        rounded.apply_update(torch.full((2, 2), 0.4 * step))
    assert int(rounded.pulses) == 0  # deterministic rounding loses every sub-pulse update


def test_stochastic_rounding_is_unbiased():
    s = _store(torch.zeros(200, 200) + 0.05, seed=3)
    step = s.w_scale * STEP.dw_min
    before = s.weight.detach().clone()
    s.apply_update(torch.full((200, 200), 0.3 * step))
    assert abs((s.weight - before).mean().item() / step - 0.3) < 0.01


def test_bitstream_update_is_unbiased_and_counts_coincidences():
    g = torch.Generator().manual_seed(0)
    w0 = torch.rand(6, 8, generator=g) * 0.2 - 0.1
    d = torch.randn(16, 6, generator=g, dtype=torch.float32)
    x = torch.rand(16, 8, generator=g)
    probe = _store(w0, pulse_scheme="bitstream")
    target = (d.t() @ x) * (3 * probe.w_scale * STEP.dw_min / (d.t() @ x).abs().max())  # up to 3 pulses
    scale = target.abs().max() / (d.t() @ x).abs().max()
    changes = []
    for seed in range(300):
        s = _store(w0, pulse_scheme="bitstream", seed=seed)
        before = s.weight.detach().clone()
        s.apply_update(target, (d * scale, x))
        changes.append(s.weight.detach() - before)
        assert int(s.wear.sum()) == int(s.pulses) > 0
    mean = torch.stack(changes).mean(0)
    err = torch.stack(changes).std(0) / 300 ** 0.5 + 1e-7
    assert ((mean - target).abs() / err).max() < 5


@pytest.mark.parametrize("policy,shared", [("per_phase", True), ("per_batch", True), ("per_read", False)])
def test_forward_and_transposed_reads_share_one_noise_draw_per_phase(policy, shared):
    g = torch.Generator().manual_seed(1)
    w = torch.randn(5, 7, generator=g) * 0.3
    s = _store(w, load_device("memristor").params, PeripheryParams(w_noise_std=0.05, noise_policy=policy))
    x, y = torch.randn(3, 7, generator=g), torch.randn(3, 5, generator=g)
    s.begin_batch()
    s.begin_phase()
    with torch.no_grad():
        lhs = (y * s.linear(x)).sum()
        rhs = (s.linear_t(y) * x).sum()
        noisy = (y * (x @ w.t())).sum()
    if shared:  # the transposed read is the adjoint of the forward read: one energy
        torch.testing.assert_close(lhs, rhs, atol=1e-5, rtol=0)
    else:
        assert abs(lhs - rhs) > 1e-3
    assert abs(lhs - noisy) > 1e-4  # the noise is there
    with torch.no_grad():
        again = (y * s.linear(x)).sum()
        s.begin_phase()
        next_phase = (y * s.linear(x)).sum()
    assert torch.equal(again, lhs) == shared
    assert torch.equal(next_phase, lhs) == (policy == "per_batch")


def test_weight_read_noise_has_the_configured_std_and_is_seeded():
    """Weight read noise as a read sees it: W + w_noise_std * g_unit * w_scale * xi, one draw
    per read under per_read, drawn from (seed, tile, counters): a rebuilt or restored storage
    repeats it."""
    params = RU.ConstantStep(dw_min=0.01, w_max=0.8, w_min=-0.8)  # g_unit = 0.8
    periph = PeripheryParams(w_noise_std=0.05, noise_policy="per_read")
    w = torch.randn(200, 150, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 0.1
    eye = torch.eye(150, dtype=torch.float64)

    def fresh(seed):
        store = _store(w, params, periph, seed=seed, tile_index=1)
        store.begin_batch()
        store.begin_phase()
        return store

    def read(store):
        with torch.no_grad():
            return store.linear(eye).t() - store.weight  # the read's weight minus the stored one

    s = fresh(4)
    a, b = read(s), read(s)
    std = 0.05 * 0.8 * s.w_scale
    assert a.std().item() == pytest.approx(std, rel=0.02)
    assert abs(a.mean().item()) < 5 * std / (a.numel() ** 0.5)
    assert not torch.equal(a, b)  # per_read: a fresh draw per read
    assert torch.equal(read(fresh(4)), a)  # the same seed and tile give the same draws
    assert not torch.equal(read(fresh(5)), a)
    restored = _store(w, params, periph, seed=4, tile_index=1)
    restored.load_state_dict(s.state_dict())  # the read counters travel with the checkpoint
    assert torch.equal(read(restored), read(s))


def test_backprop_through_quantizing_periphery_is_straight_through():
    # bp_backward: ideal (the analog default's backward is tests/unit/test_bound_management.py's)
    g = torch.Generator().manual_seed(2)
    w = torch.randn(4, 6, generator=g) * 0.3
    p = PeripheryParams(inp_bits=3, inp_bound=1.0, out_bits=3, out_bound=1.0)
    s = _store(w, load_device("memristor").params, p, bp_backward="ideal")
    x = torch.rand(5, 6, generator=g, requires_grad=True)
    y = s.linear(x)
    with torch.no_grad():
        analog = s.linear(x)
    torch.testing.assert_close(y.detach(), analog)  # the value is the analog read
    assert (y.detach() - x.detach() @ s.weight.detach().t()).abs().max() > 1e-3  # which quantizes
    up = torch.randn(5, 4, generator=g)
    (y * up).sum().backward()
    torch.testing.assert_close(s.param.grad, up.t() @ x.detach())  # the gradient (on the parameter): the ideal product's
    torch.testing.assert_close(x.grad, up @ s.weight.detach())


def test_conv_storage_update_vectors_match_the_correlate():
    from analog_ep.synapses import ConvPool, Skip

    g = torch.Generator().manual_seed(3)
    for syn in (ConvPool((2, 6, 6), 3, generator=g), Skip((2, 5, 5), (3, 3, 3), generator=g)):
        pre = torch.randn(2, *syn.in_shape, generator=g)
        post = torch.randn(2, *syn.out_shape, generator=g)
        d, x = syn.update_vectors(post, pre)
        torch.testing.assert_close((d.t() @ x).reshape(syn.weight.shape), syn.correlate(post, pre),
                                   atol=1e-5, rtol=1e-5)


def test_abs_max_noise_management_scales_each_samples_read_into_the_dac_range():
    from analog_ep.analog import reads as R

    g = torch.Generator().manual_seed(4)
    w = torch.randn(4, 6, generator=g, dtype=torch.float64) * 0.3
    p = PeripheryParams(inp_bits=4, inp_bound=1.0, out_bits=6, out_bound=3.0, noise_management="abs_max")
    s = _store(w, load_device("memristor").params, p)
    v = torch.randn(6, generator=g, dtype=torch.float64)
    x = torch.stack([0.01 * v, torch.zeros(6, dtype=torch.float64), 50.0 * v])  # a zero input reads zero
    with torch.no_grad():
        y = s.linear(x)
        yt = s.linear_t(torch.cat([x[:, :4], x[:, :4]]))
    ref = torch.zeros(3, 4, dtype=torch.float64)
    for b in range(3):  # reference: divide by max|x_b| (onto the bound), read, multiply back
        m = x[b].abs().max()
        if m > 0:
            ref[b] = R.dense_read(x[b:b + 1] / m, s.weight.detach(), p, 512, s.w_scale, s.g_unit)[0] * m
    torch.testing.assert_close(y, ref)
    assert torch.equal(y[1], torch.zeros(4, dtype=torch.float64))
    # scale invariance: a sample 5000x larger reads 5000x larger (the DAC range is always used fully)
    torch.testing.assert_close(y[2] / 50.0, y[0] / 0.01)
    yin = torch.cat([x[:, :4], x[:, :4]])
    ref_t = torch.zeros(6, 6, dtype=torch.float64)
    for b in range(6):  # the transposed read: the same scaling on the driven columns
        m = yin[b].abs().max()
        if m > 0:
            ref_t[b] = R.dense_read_t(yin[b:b + 1] / m, s.weight.detach(), p, 512, s.w_scale, s.g_unit)[0] * m
    torch.testing.assert_close(yt, ref_t)


def test_output_noise_comes_before_the_adc():
    g = torch.Generator().manual_seed(5)
    w = torch.randn(5, 7, generator=g) * 0.3
    p = PeripheryParams(out_bits=4, out_bound=2.0, out_noise_std=0.3)
    s = _store(w, load_device("memristor").params, p)
    with torch.no_grad():
        y = s.linear(torch.rand(8, 7, generator=g))
    step = 2.0 / (2 ** 3 - 1) * s.w_scale  # every output is on the ADC grid: the noise went in before it
    torch.testing.assert_close(y / step, torch.round(y / step), atol=1e-4, rtol=0)
    with torch.no_grad():
        assert not torch.equal(s.linear(torch.rand(8, 7, generator=g)), y)


@pytest.mark.parametrize("estimator", ["centered", "one_sided"])
def test_bitstream_vectors_of_an_ep_step_are_exactly_its_update(estimator):
    # the contrastive pair is sent as ((a - a')(b + b') + (a + a')(b - b')) / 2: exact, low variance
    from analog_ep.algorithms.ep import ep_gradient
    from analog_ep.models import DCHNVGG5
    from analog_ep.solvers import get_solver
    from analog_ep.train.update import update_vectors as _update_vectors

    g = torch.Generator().manual_seed(6)
    m = DCHNVGG5((1, 16, 16), [2, 3, 3, 4], 3, generator=g).double()
    x = torch.randn(2, 1, 16, 16, generator=g, dtype=torch.float64)
    y = torch.nn.functional.one_hot(torch.tensor([0, 2]), 3).double()
    res = ep_gradient(m, x, y, m.zero_state(2, x), get_solver("async"), beta=0.1, estimator=estimator,
                      free_iters=8, nudge_iters=4, tol=0.0)
    for syn, grad, terms in zip(m.ep_synapses(), res.grads, res.terms):
        if syn is None:
            continue
        d, xv = _update_vectors(syn, terms, lr=0.5, factor=None)
        torch.testing.assert_close((d.t() @ xv).reshape(grad.shape), -0.5 * grad)


def test_drift_at_t0_reads_the_stored_weights_even_beyond_the_nominal_bounds():
    card = load_device("pcm")  # 10% device-to-device bound spread: some devices hold |w| > 1
    g = torch.Generator().manual_seed(7)
    s = _store(torch.randn(30, 40, generator=g), card.params)
    with torch.no_grad():  # every device at its own bound (sign of the random weight)
        s.w_dev.copy_(PO.settle(torch.sign(s.w_dev) * 2.0, s.state, card.params))
        s._sync()
    assert (s.w_dev.abs() > 1.0).any()
    torch.testing.assert_close(s.drifted_weight(card.params.t0_s), s.weight.detach())
    later = s.drifted_weight(1e6)
    assert later.abs().sum() < s.weight.abs().sum()


def test_the_optimizer_parameter_holds_the_proposed_change_and_commit_sends_it():
    """Storage protocol: ``param`` is zero between updates; after an optimizer step it holds the
    proposed change, which ``commit`` sends as pulses (here whole pulses: exactly) and clears.
    The stored weight lives only in the devices: ``weight`` follows every change."""
    s = _store(torch.full((2, 3), 0.1), rounding="deterministic")
    step = s.w_scale * STEP.dw_min
    assert s.param is s.proposal and not s.param_holds_weight and float(s.param.detach().abs().max()) == 0
    before = s.weight.clone()
    opt = torch.optim.SGD([s.param], lr=1.0)
    s.param.grad = torch.tensor([[-2.0, 1.0, 0.0]] * 2) * step  # the step -lr g: +2, -1, 0 pulses
    opt.step()
    torch.testing.assert_close(s.param.detach(), -s.param.grad)
    s.commit()
    assert float(s.param.detach().abs().max()) == 0 and int(s.pulses) == 2 * 3
    torch.testing.assert_close(s.weight - before, torch.tensor([[2.0, -1.0, 0.0]] * 2) * step, atol=1e-7, rtol=0)


def test_cached_weight_follows_dtype_and_device_moves():
    s = _store(torch.full((2, 3), 0.1))
    w32 = s.weight
    s.double()
    assert s.weight.dtype == torch.float64 and w32.dtype == torch.float32
    x = torch.ones(4, 3, dtype=torch.float64)
    torch.testing.assert_close(s.linear(x), x @ s.weight.t())


def test_checkpoints_from_before_the_storage_protocol_load():
    """Runs recorded when the storage kept a float copy ``weight`` of its devices still resume:
    the copy is dropped (the devices hold the weight) and the proposal starts at zero."""
    a = _store(torch.linspace(-0.1, 0.1, 6).reshape(2, 3), seed=3)
    a.apply_update(torch.full((2, 3), 0.02))
    old = {k: v for k, v in a.state_dict().items() if k != "proposal"}
    old["weight"] = a.weight.clone()
    b = _store(torch.zeros(2, 3), seed=3)
    b.load_state_dict(old)
    torch.testing.assert_close(b.weight, a.weight, atol=0, rtol=0)
    assert float(b.proposal.detach().abs().max()) == 0 and b.step == a.step
