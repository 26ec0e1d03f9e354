#!/usr/bin/env bash
# Thread scaling of `jvit bench` (jvit and ONNX Runtime side by side, one process per cell) on a
# machine with more cores than the 2 of the development host: the 16-core device machine.
#
#   tools/scaling.sh OUT [THREADS...]        # default threads: 1 2 4 8 16
#
# Env: JVIT_PACK  folder with jre.tar.xz (a jlinked JDK 25), jvit-bench.jar and lib/*.jar, made by
#                 tools/scaling.sh --pack DIR on the development host; without it the launcher's JDK
#                 and bench/target are used.
#      MODELS     folder of tools/make_bench_models.py output (made there if missing: needs torch)
#      PYTHON     the Python with torch (default python3)
#      SCALING_MODELS  which models, in order (default "b ti s")
#      SCALING_GAP_MS  pause between timed runs (default 20)
#      SCALING_JAVA_OPTS  extra JVM flags for every cell, e.g. -Djvit.ort.spin=0 (ONNX Runtime's workers do not spin)
#      SCALING_NO_KERNELS  set: skip the 1-thread kernel table at the end
# Writes OUT/scaling.jsonl (one `jvit bench --json` object per cell, plus "host"), OUT/scaling.md
# (a table), OUT/profile.txt (ViT-B's stages at the most threads), OUT/kernels.txt (`jvit bench --kernels
# --threads 1`: each kernel's share of that machine's peak, the one-panel matmul row the micro-kernel's own)
# and OUT/log.txt. A cell that fails or times out is logged and skipped.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if [ "${1:-}" = --pack ]; then   # build the pack: JDK runtime (xz) + jars, with the native ORT for linux-x64 only
  DIR="$(realpath -m "${2:?--pack DIR}")"; . "$ROOT/tools/jdk.sh"; jvit_find_jdk || exit 3
  rm -rf "$DIR" && mkdir -p "$DIR/lib" || exit 1
  "$JAVA_HOME/bin/jlink" --add-modules java.base,jdk.incubator.vector,jdk.unsupported,java.logging,jdk.management,java.sql,java.xml \
    --strip-debug --no-header-files --no-man-pages --output "$DIR/jre" 2>&1 | grep -v 'incubator modules'
  find "$DIR/jre" -name '*.so' -exec strip --strip-unneeded {} \;
  tar -C "$DIR" -cf - jre | xz -T0 -6 >"$DIR/jre.tar.xz" && rm -rf "$DIR/jre"
  cp "$ROOT/bench/target/jvit-bench.jar" "$DIR/"
  for j in "$ROOT"/bench/target/lib/*.jar; do
    case "$j" in
      *onnxruntime-*) t=$(mktemp -d); (cd "$t" && unzip -q "$j" && find ai/onnxruntime/native -mindepth 1 -maxdepth 1 ! -name linux-x64 -exec rm -rf {} + \
                        && zip -q -r -9 "$DIR/lib/$(basename "$j")" .); rm -rf "$t" ;;
      *) cp "$j" "$DIR/lib/" ;;
    esac
  done
  du -sh "$DIR"; exit 0
fi

OUT="${1:?usage: tools/scaling.sh OUT [THREADS...]}"; shift
THREADS=("$@"); [ ${#THREADS[@]} -gt 0 ] || THREADS=(1 2 4 8 16)
mkdir -p "$OUT"; LOG="$OUT/log.txt"; JSONL="$OUT/scaling.jsonl"; : >"$JSONL"
log() { echo "$(date +%T) $*" | tee -a "$LOG"; }

. "$ROOT/tools/jdk.sh"   # JVIT_JVM_OPTS (and jvit_find_jdk when there is no pack)
if [ -n "${JVIT_PACK:-}" ]; then
  mkdir -p /tmp/jvit-jre && tar -C /tmp/jvit-jre -xJf "$JVIT_PACK/jre.tar.xz" || { log "cannot unpack $JVIT_PACK/jre.tar.xz"; exit 3; }
  JAVA=/tmp/jvit-jre/jre/bin/java; CP="$JVIT_PACK/jvit-bench.jar:$JVIT_PACK/lib/*"
else
  jvit_find_jdk || exit 3
  JAVA="$JAVA_HOME/bin/java"; CP="$ROOT/bench/target/jvit-bench.jar:$ROOT/bench/target/lib/*"
fi
"$JAVA" -version 2>&1 | head -1 | tee -a "$LOG"

cpus=$(nproc); model_name=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
flags=$(grep -m1 '^flags' /proc/cpuinfo); avx512=no; [[ $flags == *avx512f* ]] && avx512=yes
tpc=$(lscpu 2>/dev/null | awk -F: '/Thread\(s\) per core/{gsub(/ /,"",$2); print $2}')
printf '{"host":{"cpu":"%s","nproc":%s,"threads_per_core":"%s","avx512":"%s","mem_kb":%s}}\n' \
  "$model_name" "$cpus" "${tpc:-?}" "$avx512" "$(awk '/MemTotal/{print $2}' /proc/meminfo)" | tee -a "$JSONL" "$LOG"

MODELS="${MODELS:-$ROOT/bench-models}"
declare -A NAME=([ti]=vit_ti_16 [s]=vit_s_16 [b]=vit_b_16)
SEL=(${SCALING_MODELS:-b ti s})
missing=()
for k in "${SEL[@]}"; do [ -f "$MODELS/${NAME[$k]}.safetensors" ] || missing+=("$k"); done
if [ ${#missing[@]} -gt 0 ]; then
  log "generating ${missing[*]} into $MODELS"
  (IFS=,; PYTHONUNBUFFERED=1 timeout 300 "${PYTHON:-python3}" "$ROOT/tools/make_bench_models.py" "$MODELS" --models "${missing[*]}") >>"$LOG" 2>&1 \
    || log "model generation failed (see above); going on with what exists"
fi

JVM=("${JVIT_JVM_OPTS[@]}" ${SCALING_JAVA_OPTS:-})
for k in "${SEL[@]}"; do
  st="$MODELS/${NAME[$k]}.safetensors"; ox="$MODELS/${NAME[$k]}.onnx"
  [ -f "$st" ] || { log "skip ${NAME[$k]}: no weights"; continue; }
  for t in "${THREADS[@]}"; do
    b=$(( t > 8 ? t : 8 ))
    # fewer timed runs for the big model on few threads, so the whole table fits a short lease
    runs=20; bruns=4; [ "$k" = b ] && [ "$t" -le 2 ] && { runs=10; bruns=3; }
    args=(--model "$st" --threads "$t" --batch "$b" --runs "$runs" --batch-runs "$bruns" --warmup 2
          --warmup-ms 1500 --gap-ms "${SCALING_GAP_MS:-20}" --json)
    [ -f "$ox" ] && args+=(--compare-onnx "$ox")
    log "${NAME[$k]} threads $t batch $b"
    line=$(timeout 150 "$JAVA" "${JVM[@]}" -cp "$CP" io.jvit.bench.BenchMain "${args[@]}" 2>>"$LOG" | tail -1)
    if [[ $line == \{* ]]; then echo "$line" >>"$JSONL"; echo "$line" >>"$LOG"; else log "  failed: $line"; fi
  done
done

python3 - "$JSONL" >"$OUT/scaling.md" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
host = next((r["host"] for r in rows if "host" in r), {})
print("Host: %s, %s logical CPUs, %s threads per core, AVX-512 %s\n" % (
    host.get("cpu"), host.get("nproc"), host.get("threads_per_core"), host.get("avx512")))
print("| model | threads | batch | jvit median ms | jvit min ms | ORT median ms | latency ratio | jvit img/s | ORT img/s | throughput ratio | jvit speed-up (lat / thr) | % of peak | peak probes during the runs (min-max) |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
base = {}
for r in rows:
    if "host" in r: continue
    m, t = r.get("model"), r.get("threads")
    if t == 1: base[m] = r
    b1 = base.get(m)
    up = "%.2f / %.2f" % (b1["latency_ms_median"] / r["latency_ms_median"], r["throughput_ips"] / b1["throughput_ips"]) if b1 else ""
    f = lambda k, fmt="%.1f": (fmt % r[k]) if r.get(k) is not None else ""
    print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s-%s |" % (
        m, t, r.get("batch"), f("latency_ms_median"), f("latency_ms_min"), f("onnx_latency_ms_median"),
        f("latency_ratio", "%.3f"), f("throughput_ips"), f("onnx_throughput_ips"), f("throughput_ratio", "%.3f"), up,
        f("pct_of_peak"), f("peak_gflops_during_min"), f("peak_gflops_during_max")))
EOF
cat "$OUT/scaling.md" | tee -a "$LOG"

# where the time goes at the most threads: per-stage profile of ViT-B (text)
st="$MODELS/${NAME[b]}.safetensors"; t="${THREADS[-1]}"
if [ -f "$st" ] && [ -z "${SCALING_NO_PROFILE:-}" ]; then
  log "profile ${NAME[b]} threads $t"
  timeout 90 "$JAVA" "${JVM[@]}" -cp "$CP" io.jvit.bench.BenchMain --model "$st" --threads "$t" --batch "$t" --runs 10 \
    --batch-runs 2 --warmup 2 --warmup-ms 1500 --profile >"$OUT/profile.txt" 2>>"$LOG" || log "profile failed"
fi
# the kernels alone on one thread: whether the micro-kernel itself reaches this machine's peak (jvit was only even
# with ONNX Runtime at 1-2 threads on a 16-vCPU Xeon, ahead of it at 1-2 threads here)
if [ -z "${SCALING_NO_KERNELS:-}" ]; then
  log "kernels, 1 thread"
  timeout 120 "$JAVA" "${JVM[@]}" -cp "$CP" io.jvit.bench.BenchMain --kernels --threads 1 >"$OUT/kernels.txt" 2>>"$LOG" || log "kernels failed"
fi
log done
