"""Feasibility wrapper (not a project feature): run analog-ep with float64 as torch's default dtype
and the data batches cast to it, to see whether a float64 run of EP at small feedback_scale trains
like its twin. usage: python f64_wrap.py <analog-ep args>"""
import sys, torch
torch.set_default_dtype(torch.float64)
import analog_ep.data as D
_orig = D.Split.batch
def batch(self, idx):
    x, y = _orig(self, idx)
    return x.double(), y
D.Split.batch = batch
from analog_ep.cli import app
sys.argv = ["analog-ep"] + sys.argv[1:]
app()
