#!/bin/bash
# The screenshots of benchmarks/reports/README.md: a run (with a deployment onto pcm), a compare
# and the committed digits sweep, each rendered by `analog-ep report` and shot at 1280 px wide by
# headless Chromium. Usage: benchmarks/reports/screenshots.sh [WORKDIR] (default /tmp/report_shots).
set -euo pipefail
W=${1:-/tmp/report_shots}
HERE=$(cd "$(dirname "$0")" && pwd)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$W"
SMALL=(--set data.train_size=600 --set data.test_size=300)
[ -d "$W/run" ] || python -m analog_ep train --device memristor "${SMALL[@]}" --set train.epochs=3 \
    --set solver.stop=noise_floor --out "$W/run"
[ -d "$W/run/deploy" ] || python -m analog_ep deploy "$W/run" --device pcm --repeats 2
[ -d "$W/compare" ] || python -m analog_ep compare --device memristor --seeds 2 --set data.train_size=300 \
    --set data.test_size=150 --set train.epochs=2 --out "$W/compare"
rm -rf "$W/sweep" && mkdir -p "$W/sweep" && cp "$HERE/sweep_digits_noise_adc/sweep.csv" "$W/sweep/"
shot() {  # folder, png name, page height in px
    python -m analog_ep report "$1" >/dev/null
    chromium --headless --disable-gpu --no-sandbox --hide-scrollbars --user-data-dir="$W/profile" \
        --window-size=1280,"$3" --virtual-time-budget=5000 --screenshot="$HERE/$2" "file://$1/report.html" 2>/dev/null
}
shot "$W/run" run.png 5200
shot "$W/sweep" sweep.png 3000
shot "$W/compare" compare.png 3600
# crop the empty window below each page and store the PNG with a 96-colour palette (small files)
python - "$HERE" <<'PY'
import sys
from pathlib import Path
from PIL import Image, ImageChops
for name in ("run.png", "sweep.png", "compare.png"):
    path = Path(sys.argv[1]) / name
    im = Image.open(path).convert("RGB")
    box = ImageChops.difference(im, Image.new("RGB", im.size, (255, 255, 255))).getbbox()
    if box:
        im = im.crop((0, 0, im.width, min(im.height, box[3] + 20)))
    im.quantize(colors=96).save(path, optimize=True)
PY
