#!/usr/bin/env bash
# ganzoo on one GPU (issue 14): install, run the tests marked `gpu`, then time DCGAN 64x64
# batch 128, WGAN-GP and pix2pix (image-to-image) in fp32, bf16 and bf16 + --compile against
# the classic PyTorch DCGAN loop (benchmarks/classic_dcgan.py) on the same GPU, and write one
# JSON file: {meta, matmul_peak: {fp32, bf16}, rows: [...], targets} (benchmarks/gpu_bench.py
# does the timing; targets: at least 3x the classic loop, at least 40% of the bf16 matmul peak).
#
# Usage:
#   bash benchmarks/gpu.sh [--dry-run] [--out FILE] [--copy-to DIR] [--skip-tests]
#     --dry-run      the same steps on the CPU with tiny settings, in well under a minute:
#                    nothing installed (it says what it would install), tests only collected,
#                    compile rows skipped; the JSON goes under $TMPDIR unless --out is given
#     --out FILE     the JSON (default: benchmarks/results/gpu_<gpu name>.json, e.g. gpu_nvidia-h200.json)
#     --copy-to DIR  also keep the JSON (rewritten after every row) and the test log in DIR
#                    (on the device tool: "$OUT", so a run cut short still brings back its rows)
#     --skip-tests   time only
#   PYTHON=...       the interpreter (default python3), e.g. PYTHON=.venv/bin/python for a dry run
#
#   PYTHON=.venv/bin/python bash benchmarks/gpu.sh --dry-run --out /tmp/gpu.json   # here, on CPU
#   bash benchmarks/gpu.sh --copy-to "$OUT"                                         # on the GPU machine
#
# The GPU machine is offline and lacks pydantic. Prepare its wheels once, on the dev machine, in
# the repo root (.whl/ must be git-ignored, and named in the device tool's `carry`):
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
#     --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl \
#     pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5
# (the versions of the dev venv; pydantic-core must be the one that pydantic pins:
#  `unzip -p .whl/pydantic-2*.whl '*/METADATA' | grep ^Requires-Dist`).
set -euo pipefail

DRY=0
OUTFILE=""
COPY_TO=""
TESTS=1
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --out) OUTFILE=${2:?--out needs a file}; shift ;;
    --out=*) OUTFILE=${1#--out=} ;;
    --copy-to) COPY_TO=${2:?--copy-to needs a folder}; shift ;;
    --copy-to=*) COPY_TO=${1#--copy-to=} ;;
    --skip-tests) TESTS=0 ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "gpu.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ -n "$OUTFILE" ]; then  # absolute paths: the script works from the repo root
  OUT_DIR=$(cd "$(dirname "$OUTFILE")" 2>/dev/null && pwd) \
    || { echo "gpu.sh: the folder of --out $OUTFILE does not exist" >&2; exit 2; }
  OUTFILE=$OUT_DIR/$(basename "$OUTFILE")
fi
if [ -n "$COPY_TO" ]; then
  mkdir -p "$COPY_TO" && COPY_TO=$(cd "$COPY_TO" && pwd)
fi
PY=${PYTHON:-python3}
case "$PY" in
  */*) PY=$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY") ;;
esac

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ganzoo-gpu.XXXXXX")
SITE=/tmp/site       # the carried wheels (pydantic & co.)
SHIM=$WORK/shim      # a hand-made dist-info, if pip cannot install ganzoo
export PYTHONUNBUFFERED=1
say() { echo "== gpu.sh: $*" >&2; }
die() { echo "gpu.sh: error: $*" >&2; exit 1; }

# --- install ---------------------------------------------------------------------------------
WHEELS=$(compgen -G ".whl/*.whl" || true)
WHEEL_CMD="$PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $SITE .whl/*.whl"
EDITABLE_CMD="$PY -m pip install -q --no-deps --no-build-isolation -e ."

make_shim() {  # ganzoo importable, with its entry points, without pip: a dist-info on PYTHONPATH
  mkdir -p "$SHIM"
  ln -sfn "$REPO/ganzoo" "$SHIM/ganzoo"
  ln -sfn "$REPO/plugins" "$SHIM/ganzoo_plugins"
  "$PY" - "$REPO/pyproject.toml" "$SHIM" <<'PY'
import sys, tomllib
from pathlib import Path
project = tomllib.loads(Path(sys.argv[1]).read_text())["project"]
info = Path(sys.argv[2]) / f"ganzoo-{project['version']}.dist-info"
info.mkdir(exist_ok=True)
(info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: ganzoo\nVersion: {project['version']}\n")
lines = []
for group, entries in {"console_scripts": project.get("scripts", {}), **project.get("entry-points", {})}.items():
    lines += [f"[{group}]"] + [f"{k} = {v}" for k, v in entries.items()] + [""]
(info / "entry_points.txt").write_text("\n".join(lines))
PY
  export PYTHONPATH=$SHIM${PYTHONPATH:+:$PYTHONPATH}
}

if [ "$DRY" = 1 ]; then
  say "dry run: not installing; would run:"
  if [ -n "$WHEELS" ]; then echo "  $WHEEL_CMD   ($(echo $WHEELS | wc -w) wheels)" >&2
  else echo "  (no .whl/ folder: nothing to install from wheels)" >&2; fi
  echo "  $EDITABLE_CMD   (falling back to --user, then to a dist-info shim on PYTHONPATH)" >&2
else
  if [ -n "$WHEELS" ]; then
    say "installing $(echo $WHEELS | wc -w) carried wheels into $SITE"
    $WHEEL_CMD || die "installing the wheels in .whl/ failed"
    export PYTHONPATH=$SITE${PYTHONPATH:+:$PYTHONPATH}
  fi
  say "installing ganzoo (editable, no dependencies)"
  if ! $EDITABLE_CMD; then
    say "editable install failed; trying --user"
    if ! "$PY" -m pip install -q --no-deps --no-build-isolation --user -e .; then
      say "pip cannot install ganzoo here; using a dist-info shim on PYTHONPATH ($SHIM)"
      make_shim
    fi
  fi
fi
LISTED=$("$PY" -m ganzoo list models --json 2>&1) || true
case "$LISTED" in
  *'"dcgan:dcgan"'*) say "ganzoo and its plugins load ($PY: $("$PY" -c 'import ganzoo, sys; print(ganzoo.__file__)'))" ;;
  *) die "'$PY -m ganzoo list models' does not list dcgan: ganzoo or its plugins (entry points) are not
  installed. Missing pydantic? Carry the wheels in .whl/ (see the top of this script). Output:
$LISTED" ;;
esac

# --- tests marked gpu ------------------------------------------------------------------------
TESTS_RC=""
TESTS_SUMMARY="not run (--skip-tests)"
TESTLOG=$WORK/gpu_tests.log
[ -z "$COPY_TO" ] || TESTLOG=$COPY_TO/gpu_tests.log
if [ "$TESTS" = 1 ]; then
  if [ "$DRY" = 1 ]; then
    say "collecting the tests marked gpu (dry run: not running them)"
    PYTEST_ARGS=(--collect-only -q -m gpu -p no:cacheprovider)
  else
    say "running the tests marked gpu"
    PYTEST_ARGS=(-q -m gpu -p no:cacheprovider -rs)
  fi
  set +e
  "$PY" -m pytest "${PYTEST_ARGS[@]}" >"$TESTLOG" 2>&1
  TESTS_RC=$?
  set -e
  tail -n 25 "$TESTLOG" >&2
  TESTS_SUMMARY=$(grep -v '^\s*$' "$TESTLOG" | tail -n 1)
  say "tests: exit code $TESTS_RC: $TESTS_SUMMARY"
fi

# --- timings ---------------------------------------------------------------------------------
BENCH_ARGS=()
[ "$DRY" = 1 ] && BENCH_ARGS+=(--dry-run)
[ -n "$OUTFILE" ] && BENCH_ARGS+=(--out "$OUTFILE")
[ -n "$COPY_TO" ] && BENCH_ARGS+=(--copy-to "$COPY_TO")
[ -n "$TESTS_RC" ] && BENCH_ARGS+=(--tests-rc "$TESTS_RC")
BENCH_ARGS+=(--tests-summary "$TESTS_SUMMARY")
say "timing (benchmarks/gpu_bench.py ${BENCH_ARGS[*]})"
set +e
"$PY" benchmarks/gpu_bench.py "${BENCH_ARGS[@]}" | tee "$WORK/bench.txt"
BENCH_RC=${PIPESTATUS[0]}
set -e
WRITTEN=$(sed -n 's/^gpu_bench: wrote //p' "$WORK/bench.txt" | tail -n 1)
if [ -n "$WRITTEN" ]; then
  "$PY" -c 'import json, sys; json.load(open(sys.argv[1]))' "$WRITTEN" || die "$WRITTEN is not valid JSON"
fi
[ -z "$COPY_TO" ] || say "the JSON and the test log are also in $COPY_TO"
[ "$BENCH_RC" = 0 ] || die "benchmarks/gpu_bench.py failed (exit code $BENCH_RC)"
[ -z "$TESTS_RC" ] || [ "$TESTS_RC" = 0 ] || die "the gpu tests failed (exit code $TESTS_RC; log: $TESTLOG)"
rm -rf "$WORK"  # kept only when something failed (the test log is in it)
say "done: $WRITTEN"
