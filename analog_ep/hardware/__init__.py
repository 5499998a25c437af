"""The cost model (DESIGN section 7b): event counts -> energy, latency and area on a chip, and a
GPU estimate; unit costs and their sources in ``../shared/hardware_costs.md``.

It reads the counters the storages keep (``model.event_counts()``), never changes a simulation,
and lower layers never import it.

* :func:`price` (:mod:`.cost`): a record x a :class:`~analog_ep.config.schema.ChipConfig` x the
  device card's write physics -> :class:`CostReport` (energy by phase and component, latency by
  phase, area by layer and chip, per-sample and per-epoch figures, ``to_dict()``);
* :func:`gpu_estimate` (:mod:`.gpu`): the same record's multiply-accumulates on a GPU;
* :mod:`.adc`: the ADC models (``table``, ``neurosim_sar``, ``survey``);
* :mod:`.write`: what one programming pulse costs (:class:`WriteModel`).
"""

from .adc import ADC_MODELS, adc_area_um2, adc_energy_j, adc_time_s
from .cost import COMPONENTS, CostReport, area, price
from .gpu import GPU_PRESETS, gpu_estimate
from .write import WriteModel, as_write_model

__all__ = ["ADC_MODELS", "COMPONENTS", "CostReport", "GPU_PRESETS", "WriteModel", "adc_area_um2", "adc_energy_j",
           "adc_time_s", "area", "as_write_model", "gpu_estimate", "price"]
