#!/usr/bin/env bash
# Does the fastest setting cost quality? For DCGAN, WGAN-GP and SNGAN on MNIST: train for the
# same steps in fp32 with several seeds (the seed-to-seed spread; FP32_SEEDS, default "0 1 2")
# and at the fastest setting (--precision auto: bf16 where the CPU/GPU computes it natively,
# else fp32; seed 0, the same initial weights and data order as fp32 seed 0), then evaluate
# each with 10,000 samples on mnist-classifier features (FID, precision/recall, classes hit).
# Verdict per model: the fast run's FID differs from fp32 seed 0's by no more than the fp32
# seeds' FIDs spread (max - min).
#
#   bash benchmarks/precision_quality.sh DATA_DIR [STEPS] [MODELS]
#   bash benchmarks/precision_quality.sh ../shared/data 1000 "dcgan sngan wgan-gp"
#
# WGAN-GP trains its critic 5 times per step, so it runs STEPS/2 steps. Runs go to a temporary
# folder; the table goes to benchmarks/results/precision_quality_<machine kind>.md. ROWS=FILE
# keeps the per-run results (JSON lines) in FILE and skips the runs already there, so an
# interrupted or extended sweep (another seed) need not start over.
set -euo pipefail
DATA=${1:?usage: precision_quality.sh DATA_DIR [STEPS] [MODELS]}
STEPS=${2:-1000}
MODELS=${3:-dcgan sngan wgan-gp}
PY=${PYTHON:-python3}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
KIND=$("$PY" -c "from ganzoo.training.hardware import machine_kind; print(machine_kind())")
RESULT="$HERE/results/precision_quality_${KIND}.md"
ROWS=${ROWS:-$OUT/rows.jsonl}
touch "$ROWS"
FP32_SEEDS=${FP32_SEEDS:-0 1 2}
SPECS=()
for seed in $FP32_SEEDS; do SPECS+=("fp32 $seed"); done
SPECS+=("auto 0")
for model in $MODELS; do
  case $model in
    wgan-gp) args=(wgan --loss wgan-gp); steps=$((STEPS / 2)) ;;
    *) args=("$model"); steps=$STEPS ;;
  esac
  for spec in "${SPECS[@]}"; do
    set -- $spec
    name="$model-$1-s$2"
    if grep -q "\"model\": \"$model\", \"setting\": \"$1\", \"precision\": \"[a-z0-9]*\", \"seed\": $2, \"steps\": $steps," "$ROWS"; then
      continue  # already measured (ROWS=FILE)
    fi
    start=$(date +%s.%N)
    "$PY" -m ganzoo train "${args[@]}" --data-dir "$DATA" --steps "$steps" --precision "$1" --seed "$2" \
      --device cpu --out "$OUT" --run-name "$name" --quiet > /dev/null
    wall=$(echo "$(date +%s.%N) - $start" | bc)
    "$PY" -m ganzoo eval "$OUT/$name" --metrics fid,pr,modes -n 10000 --data-dir "$DATA" --json > "$OUT/$name.json"
    "$PY" - "$OUT/$name" "$model" "$1" "$2" "$wall" "$steps" >> "$ROWS" <<'PY'
import json, sys
run, model, setting, seed, wall, steps = sys.argv[1:]
m = json.load(open(run + ".json"))["metrics"]
used = json.load(open(run + "/config.json"))["precision"]
print(json.dumps({"model": model, "setting": setting, "precision": used, "seed": int(seed), "steps": int(steps),
                  "wall_s": round(float(wall)), "fid": m["fid[mnist-classifier]"],
                  "precision_pr": m["precision[mnist-classifier]"], "recall": m["recall[mnist-classifier]"],
                  "classes": m["modes[mnist-classifier]"]}))
PY
    tail -1 "$ROWS"
  done
done
"$PY" - "$ROWS" "$RESULT" "$KIND" "$DATA" "$STEPS" "$MODELS" <<'PY'
import datetime, json, sys, torch
rows_file, result, kind, data, steps, models = sys.argv[1:]
rows = [json.loads(line) for line in open(rows_file)]
out = [f"Machine kind {kind} (torch {torch.__version__}, {torch.get_num_threads()} threads), "
       f"{datetime.date.today().isoformat()}.",
       f"Produced by `bash benchmarks/precision_quality.sh {data} {steps} \"{models}\"`: MNIST 28x28, each model's "
       "default batch, `ganzoo eval RUN --metrics fid,pr,modes -n 10000` (mnist-classifier features, test split).",
       "The fast setting is `--precision auto`; its precision column says what auto picked. Wall times are the "
       "whole `ganzoo train` process (one job at a time).", "",
       "| model | setting | precision | seed | steps | train wall s | FID | precision | recall | classes hit |",
       "|---|---|---|---|---|---|---|---|---|---|"]
for r in rows:
    out.append(f"| {r['model']} | {r['setting']} | {r['precision']} | {r['seed']} | {r['steps']} | {r['wall_s']} | "
               f"{r['fid']:.2f} | {r['precision_pr']:.3f} | {r['recall']:.3f} | {r['classes']} |")
out += ["", "| model | fp32 seeds' FID spread | fast - fp32 seed 0 (FID) | within spread | fast speed-up (wall) |",
        "|---|---|---|---|---|"]
for model in models.split():
    mine = [r for r in rows if r["model"] == model]
    fp32 = [r for r in mine if r["setting"] == "fp32"]
    a = next(r for r in fp32 if r["seed"] == 0)
    fast = next(r for r in mine if r["setting"] == "auto" and r["seed"] == 0)
    fids = [r["fid"] for r in fp32]
    spread, diff = max(fids) - min(fids), fast["fid"] - a["fid"]
    wall = sum(r["wall_s"] for r in fp32) / len(fp32)
    out.append(f"| {model} | {spread:.2f} ({len(fp32)} seeds: {min(fids):.2f}-{max(fids):.2f}) | {diff:+.2f} | "
               f"{'yes' if abs(diff) <= spread else 'NO'} | {wall / max(fast['wall_s'], 1):.2f}x |")
open(result, "w").write("\n".join(out) + "\n")
print("\n".join(out))
PY
