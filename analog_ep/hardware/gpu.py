"""GPU estimate of a run from its counted multiply-accumulates (hardware_costs.md §7).

``gpu_estimate(record, chip)`` prices the same event record as :func:`analog_ep.hardware.price`
on a GPU (``chip.gpu``, ``chip.gpu_power_w``, ``chip.gpu_peak_flops``, ``chip.gpu_eta``)::

    FLOPs_phase = 2 * MACs_phase              (every read kind's ``macs`` of every layer;
                                               the update's ``macs`` for the update)
    t_phase     = FLOPs_phase / (eta * F_peak)
    E_phase     = P * t_phase

hardware_costs.md §7.3 [inferred]: ``E_GPU = FLOP_alg / (eta F_peak) P_board``. Only the matrix
products count (the MACs of reads and weight gradients); the elementwise neuron updates of a
relaxation are left out (on a GPU they are memory-bound and small beside the products at the
efficiencies eta used here). Presets (hardware_costs.md §7.1 [2nd: Lambda Labs A100 blog;
glennklockwood.com H100 page]): A100 SXM 400 W, 312 TFLOP/s BF16 dense; H100 SXM5 700 W,
989.4 TFLOP/s BF16 dense. eta: 0.2 matches ResNet-50 AMP training on an A100 (2711 img/s,
§7.2); small MLPs at small batch reach 0.01-0.05 (§7.3).
"""

from __future__ import annotations

from typing import Any, Optional

GPU_PRESETS = {"a100_sxm": {"power_w": 400.0, "peak_flops": 312.0e12},
               "h100_sxm": {"power_w": 700.0, "peak_flops": 989.4e12}}
"""``chip.gpu`` -> board power (W, TDP) and BF16 dense tensor peak (FLOP/s), hardware_costs.md §7.1."""


def gpu_model(chip: Any) -> dict:
    """The GPU in effect: the preset with ``chip.gpu_power_w`` / ``chip.gpu_peak_flops`` on top."""
    preset = GPU_PRESETS[chip.gpu]
    power = chip.gpu_power_w if chip.gpu_power_w is not None else preset["power_w"]
    peak = chip.gpu_peak_flops if chip.gpu_peak_flops is not None else preset["peak_flops"]
    return {"gpu": chip.gpu, "power_w": power, "peak_flops": peak, "eta": chip.gpu_eta,
            "j_per_flop": power / (peak * chip.gpu_eta)}


def phase_macs(record: dict) -> dict:
    """Multiply-accumulates by phase (every layer's read kinds), plus ``update`` (the update's
    ``macs``) when any layer counted one."""
    out: dict = {}
    for phase in record.get("phases", {}):
        out[phase] = 0
    for layer in record["layers"]:
        for phase, kinds in layer.get("phases", {}).items():
            out[phase] = out.get(phase, 0) + sum(int(c.get("macs", 0)) for c in kinds.values())
    update = sum(int(layer.get("update", {}).get("macs", 0)) for layer in record["layers"])
    if update:
        out["update"] = update
    return out


def gpu_estimate(record: dict, chip: Any, *, samples: Optional[int] = None) -> dict:
    """FLOPs, time (s) and energy (J) of ``record``'s matrix products on the GPU of ``chip``,
    by phase, for training (every phase but ``inference``, plus ``update``) and inference, with
    per-sample figures (``samples``: training samples; default: the most samples of any training
    phase of the record)."""
    gpu = gpu_model(chip)
    rate = gpu["eta"] * gpu["peak_flops"]
    phases = {}
    for phase, macs in phase_macs(record).items():
        flops = 2.0 * macs
        t = flops / rate
        phases[phase] = {"flops": flops, "time_s": t, "energy_j": gpu["power_w"] * t}
    counts = {p: int(v.get("samples", 0)) for p, v in record.get("phases", {}).items()}
    train_n = samples if samples is not None else max((n for p, n in counts.items() if p != "inference"), default=0)
    infer_n = counts.get("inference", 0)

    def total(names: list, n: int) -> dict:
        flops = sum(phases[p]["flops"] for p in names)
        t = sum(phases[p]["time_s"] for p in names)
        e = sum(phases[p]["energy_j"] for p in names)
        return {"samples": n, "flops": flops, "time_s": t, "energy_j": e,
                "energy_per_sample_j": e / n if n else None, "time_per_sample_s": t / n if n else None}

    return {**gpu, "phases": phases, "train": total([p for p in phases if p != "inference"], train_n),
            "inference": total([p for p in phases if p == "inference"], infer_n)}


__all__ = ["GPU_PRESETS", "gpu_estimate", "gpu_model", "phase_macs"]
