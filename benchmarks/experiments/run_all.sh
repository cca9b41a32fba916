#!/usr/bin/env bash
# Run every experiment of the suite in sequence (resumable), then write SUMMARY.md.
# Usage (from the repository root): bash benchmarks/experiments/run_all.sh [name ...]
set -u
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
PY=${PYTHON:-python}
LOGS=benchmarks/results/experiments/logs
mkdir -p "$LOGS"
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  names=(a_baselines b_censored_ablation c_scaling d_hyperparameters e_external f_generality g_why)
fi
for name in "${names[@]}"; do
  start=$(date +%s)
  echo "$(date -Is) start $name" >> "$LOGS/run_all.log"
  "$PY" benchmarks/experiments/run.py "benchmarks/experiments/$name.json" --quiet \
    > "$LOGS/$name.log" 2>&1
  rc=$?
  echo "$(date -Is) end $name rc=$rc wall=$(( $(date +%s) - start ))s" >> "$LOGS/run_all.log"
done
"$PY" benchmarks/experiments/summarize.py >> "$LOGS/run_all.log" 2>&1
echo "$(date -Is) all done" >> "$LOGS/run_all.log"
