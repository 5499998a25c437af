# python tree_cli.py ARGS: runs analog-ep's CLI from the code tree in $ANALOG_EP_TREE instead of the venv's editable install
import os, sys
sys.meta_path = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
sys.path.insert(0, os.environ["ANALOG_EP_TREE"])
from analog_ep.cli import run
sys.argv[0] = "analog-ep"
run()
