"""Per-read-kind times of one dchn_vgg5 EP training step (analog on the memristor card, numba
kernels) and of its digital twin's step, through the trainers `bench` builds (`make_trainer`).

Every read entry point is wrapped in a timer (outermost call only, so a read's inner torch calls
count once); the numba transposed conv read is split further into its parts (DAC, tile products,
fused output stage + fold). Medians over `repeats` steps after one warm-up step.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/speed_fmnist_s12_conv/read_profile.py \
        [repeats] [relaxation] [extra --set items...]
"""
import dataclasses, statistics, sys, time, collections
import torch
import torch.nn.functional as F
from analog_ep.config import load_config
from analog_ep.config.schema import AnalogConfig
from analog_ep.data import load_data
from analog_ep.train.loop import make_trainer
from analog_ep.analog import reads as R, storage as S
from analog_ep.analog.kernels import numba_reads as NR
from analog_ep.synapses import storage as SS, conv as C

repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
relax = sys.argv[2] if len(sys.argv) > 2 else "iterative"
extra = sys.argv[3:]
SETS = ["model.name=dchn_vgg5", "model.channels=[32,64,64,64]", "data.name=synthetic", "data.shape=[3,32,32]",
        "data.batch_size=64", "analog.update=mixed", "compute.kernels=numba", "analog.device=memristor",
        f"analog.relaxation={relax}"] + extra
torch.set_num_threads(1)
cfg = load_config(None, SETS)
train_set, _, info = load_data(cfg.data, cfg.seed)
x, y = train_set.batch(slice(0, cfg.data.batch_size))
x = x.contiguous()
ana = make_trainer(dataclasses.replace(cfg, algorithm="ep"), None, data=(train_set, train_set, info))
dig = make_trainer(dataclasses.replace(cfg, algorithm="ep", analog=AnalogConfig(), device={}), None,
                   data=(train_set, train_set, info))

acc = collections.defaultdict(float)
cnt = collections.defaultdict(int)
depth = [0]


def wrap(owner, name, label, outer=True):
    f = getattr(owner, name)

    def g(*a, **k):
        if outer and depth[0]:
            return f(*a, **k)
        if outer:
            depth[0] += 1
        t0 = time.process_time()
        try:
            return f(*a, **k)
        finally:
            acc[label] += time.process_time() - t0
            cnt[label] += 1
            if outer:
                depth[0] -= 1
    setattr(owner, name, g)


# analog read kinds (outermost)
wrap(R, "conv_read", "A conv forward read (DAC+conv+stage)")
wrap(R, "conv_read_t", "A conv transposed read")
wrap(R, "dense_read", "A dense forward read")
wrap(R, "dense_read_t", "A dense transposed read")
wrap(S.AnalogStorage, "max_pool", "A max-pool after forward read")
wrap(S.AnalogStorage, "_planned_read", "A dense planned read")
# parts of the numba transposed conv read (inner)
wrap(NR, "_conv_dac", "  part: DAC (_conv_dac, fwd+t)", outer=False)
wrap(NR, "_stage_fold1", "  part: t-read output stage + fold (_stage_fold1)", outer=False)
wrap(NR, "_stage_cl1", "  part: fwd-read output stage (_stage_cl1)", outer=False)
# digital (and the unpool of both)
wrap(F, "max_unpool2d", "unpool (max_unpool2d)")
wrap(SS.DigitalStorage if hasattr(SS, "DigitalStorage") else SS, "conv", "D conv forward", )
wrap(SS.DigitalStorage if hasattr(SS, "DigitalStorage") else SS, "conv_t", "D conv transposed")
wrap(SS.DigitalStorage if hasattr(SS, "DigitalStorage") else SS, "max_pool", "D max-pool")
orig_mm = torch.matmul


def timed_matmul(*a, **k):
    t0 = time.process_time()
    try:
        return orig_mm(*a, **k)
    finally:
        acc["  part: tile products (torch.matmul)"] += time.process_time() - t0


NR.torch = type("T", (), {k: getattr(torch, k) for k in dir(torch) if not k.startswith("__")})
NR.torch.matmul = staticmethod(timed_matmul)

rows = collections.defaultdict(list)
for name, tr in (("analog", ana), ("digital", dig)):
    tr.model.train()
    tr.train_step(x, y)
for r in range(repeats):
    for name, tr in (("analog", ana), ("digital", dig)):
        acc.clear(); cnt.clear()
        t0 = time.process_time()
        _, _, st = tr.train_step(x, y)
        dt = time.process_time() - t0
        rows[name, "step"].append(dt)
        rows[name, "sweeps"].append(sum(int(s.sweeps) for s in st.values()))
        for k, v in acc.items():
            rows[name, k].append(v)
            rows[name, k + " #"].append(cnt[k])
for name in ("analog", "digital"):
    step = statistics.median(rows[name, "step"])
    print(f"== {name}: step {step:.3f} s, sweeps {statistics.median(rows[name, 'sweeps'])}")
    for (n, k), v in sorted(rows.items()):
        if n != name or k in ("step", "sweeps") or k.endswith(" #"):
            continue
        m = statistics.median(v)
        print(f"  {k:55s} {m * 1e3:9.1f} ms  {100 * m / step:5.1f} %  calls {statistics.median(rows[name, k + ' #'])}")
