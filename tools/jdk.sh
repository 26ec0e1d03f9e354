# Sourced by ./jvit and ./run-tests: finds a JDK >= 25 and exports JAVA_HOME.
# Order: $JAVA_HOME, $JVIT_JAVA_HOME, then the usual install folders.
jvit_java_major() { # prints the feature version of the java binary $1
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
