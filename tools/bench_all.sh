#!/usr/bin/env bash
# jvit vs ONNX Runtime on the three bench models at 1 and 2 threads, one JVM per (model, threads), each
# interleaving the two engines run by run. Writes one JSON object per line to $OUT (default
# bench/target/bench-results.jsonl) and prints a Markdown table of the ratios.
#   tools/make_bench_models.py first (bench-models/ is not committed), then:
#   tools/bench_all.sh                       # ~10 minutes on 2 cores
#   MODELS="vit_b_16" THREADS="2" tools/bench_all.sh --runs 50
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="${OUT:-bench/target/bench-results.jsonl}"
MODELS="${MODELS:-vit_ti_16 vit_s_16 vit_b_16}"
THREADS="${THREADS:-1 2}"
: >"$OUT"
for m in $MODELS; do
  [ -f "bench-models/$m.safetensors" ] || { echo "bench_all.sh: bench-models/$m.safetensors missing (run tools/make_bench_models.py)" >&2; exit 4; }
  for t in $THREADS; do
    echo "bench_all.sh: $m, $t thread(s)..." >&2
    ./jvit bench --model "bench-models/$m.safetensors" --compare-onnx "bench-models/$m.onnx" --threads "$t" --json "$@" >>"$OUT"
  done
done
python3 - "$OUT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
# latency jvit/ORT: the median of all runs; after a pause | back to back: the first run of each turn | the others
print("| model | threads | jvit b1 ms (median / min) | ORT b1 ms (median / min) | latency jvit/ORT | after a pause \\| back to back | jvit b%d img/s | ORT img/s | throughput jvit/ORT | jvit GFLOP/s (b1) | %% of peak (model \\| computed FLOPs) | peak GFLOP/s | peak probes during the runs (min-max) | max abs diff |" % rows[0]["batch"])
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    kinds = "%.3f \\| %.3f" % (r["latency_ratio_after_pause"], r["latency_ratio_steady"]) if "latency_ratio_steady" in r else "-"
    pct = "%s \\| %s" % (r.get("pct_of_peak"), r.get("pct_of_peak_computed"))
    sampled = "%s-%s" % (r.get("peak_gflops_during_min"), r.get("peak_gflops_during_max"))
    print("| %s | %d | %.1f / %.1f | %.1f / %.1f | %.3f | %s | %.1f | %.1f | %.3f | %.1f | %s | %s | %s | %.1e |" % (
        r["model"].replace(".safetensors", ""), r["threads"], r["latency_ms_median"], r["latency_ms_min"],
        r["onnx_latency_ms_median"], r["onnx_latency_ms_min"], r["latency_ratio"], kinds, r["throughput_ips"],
        r["onnx_throughput_ips"], r["throughput_ratio"], r["gflops_effective"], pct, r.get("peak_gflops"),
        sampled, r["max_abs_logit_diff"]))
PY
