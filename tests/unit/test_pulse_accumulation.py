"""Per-vector pulse accumulation, update BL management and write noise on set (issue 18, items 5-6),
each against a plain reference written from aihwkit 1.2.0's documented semantics."""

import math

import pytest
import torch
from typer.testing import CliRunner

from analog_ep.analog import engine as E
from analog_ep.analog import streams as S
from analog_ep.analog.cards import effective_update, load_device, update_from_dict
from analog_ep.analog.periphery import PeripheryParams
from analog_ep.analog.population import sample_device_state
from analog_ep.analog.rules import ConstantStep, ExpStep, SoftBounds
from analog_ep.analog.storage import AnalogStorage
from analog_ep.cli import app
from analog_ep.config import load_config
from analog_ep.errors import ConfigError

F64 = torch.float64


# --------------------------------------------------------------------------------------------
# plain references (scalar Python loops, aihwkit's semantics)


def aihwkit_bl_ab(lr, xmax, dmax, dw_min, desired_bl, update_management, bl_management):
    """``PulsedUpdateMetaParameter::performUpdateManagement`` (rpu_pulsed_meta_parameter.cpp),
    after ``calculateBlAB`` with fixed_BL, um_grad_scale 1: ``(BL, A, B)``; prob(x) = B |x|,
    prob(d) = A |d|."""
    if lr == 0 or xmax == 0 or dmax == 0:
        return 0, 0.0, 0.0
    BL = desired_bl
    A = B = math.sqrt(lr / (dw_min * BL))
    x_val, d_val = xmax, dmax
    k_val = lr * x_val * d_val / dw_min
    if bl_management:
        BL = min(math.ceil(k_val), desired_bl)
        A = B = math.sqrt(lr / (dw_min * BL))
    if update_management:
        if k_val > desired_bl:
            d_val *= desired_bl / k_val
        A *= math.sqrt(x_val / d_val)
        B *= math.sqrt(d_val / x_val)
    return BL, A, B


def _fires(key, row, slot, n, N, bl, prob):
    """Bit of ``row`` in ``slot`` of vector ``n`` (of ``N``), the layout :func:`engine._bits`
    documents: slots 2h, 2h + 1 are the low and high halves of word ``(row S/2 + h) N + n`` of
    stream ``(key, counter 0)``; a half ``s`` fires when ``s + 2^31 < round(p 2^32)``."""
    H = (bl + 1) // 2
    idx = torch.tensor([(row * H + slot // 2) * N + n], dtype=torch.int64)
    half = S.hash_words(idx * S.GOLDEN_S, key, 0).view(torch.int32)[slot % 2].item()
    return half + 2 ** 31 < round(prob * 2 ** 32)


def reference_per_vector(w0, d, x, lr, dw_min, bl, key, pulse_key, state, params, um, blm):
    """aihwkit's ``updateMatrix``: vector after vector, slot after slot, device after device, one
    ``doSparseUpdate`` pulse per coincidence (cycle-to-cycle normal of pulse k of device i in this
    vector: counter_normal(stream_key(pulse_key, n), i, k))."""
    w = w0.clone()
    out, inn = w.shape
    N = d.shape[0]
    kx, kd = S.stream_key(key, 0), S.stream_key(key, 1)  # the x and d streams of the trains
    sent = torch.zeros(out, inn, dtype=torch.int32)
    for n in range(N):
        xmax, dmax = float(x[n].abs().max()), float(d[n].abs().max())
        BL, A, B = aihwkit_bl_ab(lr, xmax, dmax, dw_min, bl, um, blm)
        vkey = S.stream_key(pulse_key, n)
        k_of = {}
        for t in range(BL):
            xb = [_fires(kx, j, t, n, N, bl, min(1.0, B * abs(float(x[n, j])))) for j in range(inn)]
            db = [_fires(kd, i, t, n, N, bl, min(1.0, A * abs(float(d[n, i])))) for i in range(out)]
            for i in range(out):
                for j in range(inn):
                    if not (xb[j] and db[i]):
                        continue
                    up = (d[n, i] > 0) == (x[n, j] > 0)
                    flat = i * inn + j
                    k = k_of.get(flat, 0)
                    k_of[flat] = k + 1
                    xi = S.counter_normal(vkey, torch.tensor([flat]), k, F64) if params.noise_std > 0 else None
                    s = {f: getattr(state, f).reshape(-1)[flat:flat + 1] for f in params.state_fields}
                    w.view(-1)[flat] = params.pulse(w.view(-1)[flat:flat + 1], torch.tensor([bool(up)]), xi, s)[0]
                    sent[i, j] += 1
    return w, sent


def _problem(seed=0, N=5, out=3, inn=4):
    g = torch.Generator().manual_seed(seed)
    d = torch.randn(N, out, generator=g, dtype=F64)
    x = torch.rand(N, inn, generator=g, dtype=F64)
    x[1] = 0.0  # a vector with nothing to send
    return d, x


@pytest.mark.parametrize("params", [
    SoftBounds(dw_min=0.05, dw_min_std=0.3, dw_min_dtod=0.2, up_down=0.1),
    ExpStep(dw_min=0.05, dw_min_std=0.2),
])
@pytest.mark.parametrize("um,blm", [(True, False), (True, True), (False, False), (False, True)])
def test_per_vector_matches_the_plain_reference(params, um, blm):
    d, x = _problem()
    state = sample_device_state(params, (3, 4), torch.Generator().manual_seed(3), dtype=F64)
    w0 = torch.empty(3, 4, dtype=F64).uniform_(-0.5, 0.5, generator=torch.Generator().manual_seed(4))
    lr, bl, key, pkey = 0.4, 7, 11, 12
    ref, ref_sent = reference_per_vector(w0, d, x, lr, 0.05, bl, key, pkey, state, params, um, blm)
    for path in ("compact", "masked"):
        w = w0.clone()
        out, sent = E.per_vector_pulses(w, d, x, lr, 0.05, bl, key, pkey, state, params, um,
                                        bl_management=blm, path=path)
        assert out is w
        assert torch.equal(sent, ref_sent)
        assert sent.sum() > 0
        torch.testing.assert_close(w, ref, rtol=0, atol=1e-14)


def test_per_vector_uses_the_net_counts_trains():
    """Same bits as the net count: the pulses sent are its coincidences, and on a linear device
    far from its bounds the net and per-vector weights agree (up and down pulses commute)."""
    d, x = _problem(1, N=9, out=6, inn=7)
    params = ConstantStep(dw_min=0.001)
    state = sample_device_state(params, (6, 7), torch.Generator().manual_seed(0), dtype=F64)
    net, total = E.bitstream_counts(d, x, 0.02, 0.001, 31, 5, bl_management=True)
    w = torch.zeros(6, 7, dtype=F64)
    _, sent = E.per_vector_pulses(w, d, x, 0.02, 0.001, 31, 5, 6, state, params, bl_management=True)
    assert torch.equal(sent, total)
    torch.testing.assert_close(w, net.to(F64) * 0.001, rtol=0, atol=1e-12)


def test_bl_management_chooses_aihwkits_train_length():
    g = torch.Generator().manual_seed(7)
    d = torch.randn(40, 5, generator=g, dtype=F64) * torch.logspace(-3, 1, 40, dtype=F64).unsqueeze(1)
    x = torch.rand(40, 6, generator=g, dtype=F64)
    d[3] = 0.0
    for um in (True, False):
        for lr, dw_min, bl in ((0.1, 0.001, 31), (0.01, 0.01, 15), (1.0, 0.001, 8)):
            p, q, bl_n = E.train_probabilities(d, x, lr, dw_min, bl, um, bl_management=True)
            for n in range(40):
                BL, A, B = aihwkit_bl_ab(lr, float(x[n].abs().max()), float(d[n].abs().max()), dw_min, bl, um, True)
                if BL == 0:
                    assert p[n].abs().sum() == 0 and q[n].abs().sum() == 0
                    continue
                assert int(bl_n[n]) == BL
                torch.testing.assert_close(p[n], (B * x[n].abs()).clamp(max=1.0), rtol=1e-12, atol=0)
                torch.testing.assert_close(q[n], (A * d[n].abs()).clamp(max=1.0), rtol=1e-12, atol=0)
    # the choice covers both regimes: short trains for small updates, the cap for large ones
    _, _, bl_n = E.train_probabilities(d, x, 0.1, 0.001, 31, True, bl_management=True)
    assert bl_n.min() == 1 and bl_n.max() == 31


# --------------------------------------------------------------------------------------------
# storage


def _storage(params, scheme="bitstream", acc="per_vector", seed=0, shape=(6, 8), **kw):
    w = torch.empty(shape).uniform_(-0.3, 0.3, generator=torch.Generator().manual_seed(1))
    return AnalogStorage(w, params, PeripheryParams(), pulse_scheme=scheme, pulse_accumulation=acc, seed=seed, **kw)


def test_storage_per_vector_is_reproducible_and_counts_every_pulse():
    params = SoftBounds(dw_min=0.01, dw_min_std=0.3, write_noise_std=2.0)
    g = torch.Generator().manual_seed(2)
    d, x = torch.randn(16, 6, generator=g), torch.rand(16, 8, generator=g)
    runs = []
    for acc in ("per_vector", "per_vector", "net"):
        st = _storage(params, acc=acc, bl_management=True)
        st.apply_update(d.t() @ x * 0.01, (d * 0.01, x))
        runs.append(st)
    a, b, net = runs
    assert torch.equal(a.w_dev, b.w_dev) and torch.equal(a.write_offset, b.write_offset)
    assert int(a.pulses) == int(a.wear.sum()) > int(net.pulses)  # per vector: no cancellation
    assert not torch.equal(a.w_dev, net.w_dev)
    # every pulsed device drew fresh write noise, the others kept their programmed offset
    fresh = _storage(params, acc="per_vector", bl_management=True)
    moved = a.write_offset != fresh.write_offset
    assert torch.equal(moved, a.wear > 0)


def test_storage_refuses_per_vector_with_rounded_counts():
    with pytest.raises(ConfigError, match="pulse_accumulation: per_vector .* rounded"):
        _storage(SoftBounds(dw_min=0.01), scheme="rounded")
    with pytest.raises(ConfigError, match="pulse_accumulation: unknown accumulation 'sum'; valid: net, per_vector"):
        _storage(SoftBounds(dw_min=0.01), acc="sum")


def test_write_noise_on_set_statistics_and_switch():
    params = SoftBounds(dw_min=0.01, write_noise_std=5.0)  # apparent offset std 0.05
    on = _storage(params, scheme="rounded", acc="net", shape=(200, 300))
    off = _storage(SoftBounds(dw_min=0.01, write_noise_std=5.0, apply_write_noise_on_set=False),
                   scheme="rounded", acc="net", shape=(200, 300))
    assert torch.equal(on.w_dev, off.w_dev)  # the persistent weight is the target either way
    assert torch.count_nonzero(off.write_offset) == 0
    o = on.write_offset.double()
    assert abs(float(o.mean())) < 4 * 0.05 / math.sqrt(o.numel())
    assert abs(float(o.std()) / 0.05 - 1) < 0.02
    torch.testing.assert_close(on.weight, on.w_scale * (on.w_dev + on.write_offset))
    # programming again (deploy) draws afresh, from its own keyed stream, and keeps the target
    first = on.write_offset.clone()
    on.program_weights(on.w_scale * on.w_dev)
    assert not torch.equal(on.write_offset, first)
    twin = _storage(params, scheme="rounded", acc="net", shape=(200, 300))
    twin.program_weights(twin.w_scale * twin.w_dev)
    assert torch.equal(on.write_offset, twin.write_offset)
    # devices without write noise hold no offset at all
    assert _storage(SoftBounds(dw_min=0.01), scheme="rounded", acc="net").write_offset is None


# --------------------------------------------------------------------------------------------
# config, cards, CLI


def test_effective_update_precedence(tmp_path):
    f = tmp_path / "preset.yaml"
    f.write_text("source: x\nrule: soft_bounds\ndw_min: 0.01\nupdate:\n  pulse_scheme: bitstream\n"
                 "  pulse_accumulation: per_vector\n  bl_management: true\n")
    card = load_device(f)
    assert card.update == {"pulse_scheme": "bitstream", "pulse_accumulation": "per_vector", "bl_management": True}
    cfg = load_config(None, [f"analog.device={f}", "train.momentum=0", "train.weight_decay=0"])
    u = effective_update(card, cfg.analog)
    assert (u.pulse_scheme, u.pulse_accumulation, u.bl, u.bl_management, u.update_management) == (
        "bitstream", "per_vector", 31, True, True)
    assert u.sources["pulse_scheme"] == "card" and u.sources["bl"] == "default"
    cfg = load_config(None, [f"analog.device={f}", "analog.pulse_accumulation=net", "analog.bl=15",
                             "train.momentum=0", "train.weight_decay=0"])
    u = effective_update(card, cfg.analog)
    assert (u.pulse_accumulation, u.bl, u.sources["bl"]) == ("net", 15, "analog")
    # to_dict round trip
    from analog_ep.analog.cards import card_from_dict
    assert card_from_dict(card.to_dict(), card.name, card.path) == card
    # a shipped card without the section keeps today's defaults
    u = effective_update(load_device("memristor"), load_config(None, ["analog.device=memristor"]).analog)
    assert (u.pulse_scheme, u.pulse_accumulation, u.bl, u.bl_management, u.rounding) == (
        "rounded", "net", 31, False, "stochastic")


def test_card_update_section_is_validated():
    with pytest.raises(ConfigError, match=r"^c.yaml: update.bl_managment: unknown key; did you mean update.bl_management\?"):
        update_from_dict({"update": {"bl_managment": True}}, "c.yaml: ")
    with pytest.raises(ConfigError, match=r"update.pulse_accumulation: invalid value 'sum'; valid: net, per_vector"):
        update_from_dict({"update": {"pulse_accumulation": "sum"}})
    with pytest.raises(ConfigError, match=r"update.pulse_accumulation: per_vector .*pulse_scheme rounded has no trains"):
        update_from_dict({"update": {"pulse_accumulation": "per_vector"}})


@pytest.mark.parametrize("overrides,needle", [
    (["analog.pulse_accumulation=sum"], "analog.pulse_accumulation: invalid value 'sum'; valid: net, per_vector"),
    (["analog.pulse_accumulation=per_vector"], "analog.pulse_accumulation: per_vector applies each example's pulse "
                                               "trains, and pulse_scheme (default) rounded has no trains"),
    (["analog.pulse_scheme=rounded", "analog.pulse_accumulation=per_vector"], "analog.pulse_scheme rounded"),
    (["analog.update=mixed", "analog.pulse_accumulation=per_vector"], "analog.pulse_accumulation: per_vector "
                                                                      "schedules bit-stream trains only"),
    (["analog.bl_management=true"], "analog.bl_management: shapes the bit-stream trains only"),
    (["analog.bl=0"], "analog.bl: must be >= 1"),
])
def test_bad_update_keys_name_the_key(overrides, needle):
    with pytest.raises(ConfigError) as e:
        load_config(None, ["analog.device=memristor", *overrides])
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_card_supplied_bitstream_still_refuses_momentum(tmp_path):
    from analog_ep.train.build import resolve_device
    f = tmp_path / "preset.yaml"
    f.write_text("source: x\nrule: soft_bounds\ndw_min: 0.01\nupdate:\n  pulse_scheme: bitstream\n")
    cfg = load_config(None, [f"analog.device={f}", "train.momentum=0.9"])  # the card is read at build
    with pytest.raises(ConfigError, match=r"train.momentum: must be 0 with card preset update.pulse_scheme bitstream"):
        resolve_device(cfg)


def test_cli_per_vector_with_rounded_is_one_line_exit_2():
    res = CliRunner().invoke(app, ["train", "--device", "memristor", "--set", "analog.pulse_accumulation=per_vector"])
    assert res.exit_code == 2, res.output
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "analog.pulse_accumulation" in err, err
    assert "Traceback" not in res.output


def test_rounded_override_of_a_preset_card_drops_its_per_vector_trains():
    """A preset card declares per-vector bitstream trains; `--set analog.pulse_scheme=rounded`
    sends rounded counts, which have no trains, so the card's accumulation does not apply (and the
    run is not refused for it)."""
    from analog_ep.analog.cards import effective_update, load_device
    from analog_ep.config.schema import AnalogConfig

    card = load_device("reram_sb")
    assert effective_update(card, AnalogConfig()).pulse_accumulation == "per_vector"
    upd = effective_update(card, AnalogConfig(pulse_scheme="rounded"))
    assert (upd.pulse_scheme, upd.pulse_accumulation) == ("rounded", "net")
    assert upd.sources["pulse_accumulation"] == "default"
