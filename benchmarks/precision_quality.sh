#!/usr/bin/env bash
# Does bf16 hurt quality? Train DCGAN on MNIST for the same number of steps in fp32 (two
# seeds, for the noise level) and bf16, then evaluate each with 10,000 samples.
#   bash benchmarks/precision_quality.sh ../shared/data [steps]
set -euo pipefail
DATA=${1:?usage: precision_quality.sh DATA_DIR [STEPS]}
STEPS=${2:-1000}
OUT=$(mktemp -d)
for spec in "fp32 0" "fp32 1" "bf16 0"; do
  set -- $spec
  start=$(date +%s.%N)
  ganzoo train dcgan --data-dir "$DATA" --steps "$STEPS" --precision "$1" --seed "$2" \
    --out "$OUT" --run-name "$1-s$2" --quiet > /dev/null
  wall=$(echo "$(date +%s.%N) - $start" | bc)
  ganzoo eval "$OUT/$1-s$2" --metrics fid,pr,modes -n 10000 --json > "$OUT/$1-s$2.json"
  python3 - "$OUT/$1-s$2.json" "$1" "$2" "$wall" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]
print(f"| {sys.argv[2]} | {sys.argv[3]} | {float(sys.argv[4]):.0f} | {m['fid[mnist-classifier]']:.2f} "
      f"| {m['precision[mnist-classifier]']:.3f} | {m['recall[mnist-classifier]']:.3f} | {m['modes[mnist-classifier]']} |")
PY
done
