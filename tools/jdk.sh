# Sourced by ./jvit, ./run-tests and tools/scaling.sh: finds a JDK >= 25 and exports JAVA_HOME; JVIT_JVM_OPTS
# are the JVM flags every jvit process runs with.
# Order: $JAVA_HOME, $JVIT_JAVA_HOME, then the usual install folders.
jvit_java_major() { # prints the feature version of the java binary $1
  # the JDK's release file says it without starting a JVM (~0.15 s each: four JDKs here were 0.5 s of every run)
  local release="${1%/bin/java}/release" v
  if [ -f "$release" ]; then
    v=$(sed -n 's/^JAVA_VERSION="\([0-9][0-9.]*\).*/\1/p' "$release" | head -n1)
    case "$v" in 1.*) v=${v#1.} ;; esac   # 1.8.0_x is Java 8
    v=${v%%.*}
    if [ -n "$v" ]; then echo "$v"; return; fi
  fi
  "$1" -XshowSettings:properties -version 2>&1 |
    sed -n 's/^ *java\.specification\.version = \([0-9][0-9]*\).*/\1/p' | head -n1
}
jvit_find_jdk() {
  local c major
  # JVIT_JDK_DIRS (space-separated globs) replaces the usual install folders, e.g. for testing
  local dirs=${JVIT_JDK_DIRS:-'/usr/lib/jvm/* /usr/local/lib/jvm/* /opt/java/* /opt/jdk* /usr/local/jdk* $HOME/.sdkman/candidates/java/* $HOME/.jdks/*'}
  for c in "${JVIT_JAVA_HOME:-}" "${JAVA_HOME:-}" $(eval echo $dirs); do
    [ -n "$c" ] && [ -x "$c/bin/java" ] && [ -x "$c/bin/javac" ] || continue
    major=$(jvit_java_major "$c/bin/java")
    if [ -n "$major" ] && [ "$major" -ge 25 ]; then
      export JAVA_HOME="$c"
      return 0
    fi
  done
  echo "jvit: needs a JDK 25 or newer (with javac); none found in JAVA_HOME or /usr/lib/jvm. Install one (e.g. Temurin 25) or set JAVA_HOME." >&2
  return 1
}

# Memory (docs/BENCHMARKS.md, tenth round): the serial collector and a 2 MB young generation (a warm forward pass
# allocates ~400 bytes; every page the young generation ever touched stays resident), and a periodic trim of the
# C heap, where the JIT's freed working memory otherwise stays resident (~30 MB after ViT-B's first passes).
# (./jvit passes the first five to the AOT cache's create step: keep the collector fifth, the heap flags after.)
JVIT_JVM_OPTS=(--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow
               -XX:+UseSerialGC -Xmn2m -XX:TrimNativeHeapInterval=5000 -Xss4m)
