#!/usr/bin/env bash
# Builds the bench module and runs the JMH kernel benchmarks with short settings, then prints each
# result as GFLOP/s and % of the FMA peak measured in the same run (io.jvit.bench.jmh.JmhMain).
#   tools/jmh.sh                      # everything (about 4 minutes)
#   tools/jmh.sh Matmul               # a regex of benchmarks, as JMH takes it
#   tools/jmh.sh Attention -p tokens=4096 -p threads=2
#   JMH_OPTS="-f 1 -wi 5 -i 10 -w 2s -r 2s" tools/jmh.sh Matmul    # longer, steadier
# Matmul and Attention take -p threads=1,2; PeakBench (peak1, peak2) gives the reference peak.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ROOT/tools/jdk.sh"
jvit_find_jdk || exit 3
cd "$ROOT"
if [ "${JMH_SKIP_BUILD:-}" != 1 ]; then
  mvn -B -q -pl bench -am package -DskipTests >"$ROOT/.jvit-build.log" 2>&1 || { echo "jmh.sh: build failed; see .jvit-build.log" >&2; exit 3; }
fi
JVM_ARGS="--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED"
# shellcheck disable=SC2086
exec "$JAVA_HOME/bin/java" $JVM_ARGS -cp "bench/target/jvit-bench.jar:bench/target/lib/*" io.jvit.bench.jmh.JmhMain \
  ${JMH_OPTS:--f 1 -wi 3 -i 5 -w 1s -r 1s} -jvmArgsAppend "$JVM_ARGS" "$@" 2> >(grep -v 'WARNING: Using incubator modules' >&2)
