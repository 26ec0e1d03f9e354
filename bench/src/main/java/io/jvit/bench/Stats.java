package io.jvit.bench;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/** Small helpers: medians, process memory from /proc, the JVM's direct/native memory counter. */
final class Stats {
    private Stats() {}

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        int n = s.length;
        return n == 0 ? Double.NaN : n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    static double min(double[] v) {
        return Arrays.stream(v).min().orElse(Double.NaN);
    }

    static double max(double[] v) {
        return Arrays.stream(v).max().orElse(Double.NaN);
    }

    /** VmRSS, VmHWM, RssAnon, RssFile in bytes from /proc/self/status (empty off Linux). */
    static Map<String, Long> procStatus() {
        Map<String, Long> m = new LinkedHashMap<>();
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                for (String k : new String[] {"VmRSS", "VmHWM", "RssAnon", "RssFile"}) {
                    if (line.startsWith(k + ":")) {
                        String v = line.substring(k.length() + 1).trim().split("\\s+")[0];
                        m.put(k, Long.parseLong(v) * 1024);
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux: no figures
        }
        return m;
    }

    static long rss() { return procStatus().getOrDefault("VmRSS", -1L); }

    /** The JIT's total compilation time so far in ms (summed over its compiler threads), or -1 when the JVM does not say. */
    static long jitMillis() {
        java.lang.management.CompilationMXBean b = ManagementFactory.getCompilationMXBean();
        return b != null && b.isCompilationTimeMonitoringSupported() ? b.getTotalCompilationTime() : -1;
    }

    /**
     * Watches the JIT while a warm-up runs: {@link #quiet()} once two consecutive windows of {@code windowMs}
     * each added at most {@link #QUIET_MS} of compilation. The compiler threads share the cores with the
     * threads being timed: on 2 cores, ViT-Ti's forward pass kept C2 busy for ~8 s after it started, and
     * passes were ~10% slower (2 threads) until it stopped.
     */
    static final class JitWatch {
        static final long QUIET_MS = 5;
        private final long windowNs;
        private long windowStart = System.nanoTime(), jitAt = jitMillis();
        private int quietWindows;

        JitWatch(long windowMs) { windowNs = windowMs * 1_000_000L; }

        /** True when the JVM cannot report compilation time (nothing to wait for) or has been quiet for two windows. */
        boolean quiet() {
            if (jitAt < 0) return true;
            long now = System.nanoTime();
            if (now - windowStart >= windowNs) {
                long j = jitMillis();
                quietWindows = j - jitAt <= QUIET_MS ? quietWindows + 1 : 0;
                jitAt = j;
                windowStart = now;
            }
            return quietWindows >= 2;
        }
    }

    static long hwm() { return procStatus().getOrDefault("VmHWM", -1L); }

    /** Whether the JVM was started with Native Memory Tracking (read from the command line, not through JMX). */
    private static final boolean NMT_ON = nmtFlag();

    private static boolean nmtFlag() {
        try {
            String cmd = new String(java.nio.file.Files.readAllBytes(java.nio.file.Path.of("/proc/self/cmdline")), java.nio.charset.StandardCharsets.UTF_8)
                    + "\0" + String.join("\0", (System.getenv().getOrDefault("JDK_JAVA_OPTIONS", "") + " "
                    + System.getenv().getOrDefault("JAVA_TOOL_OPTIONS", "")).split("\\s+"));
            for (String a : cmd.split("\0"))
                if (a.startsWith("-XX:NativeMemoryTracking=") && !a.endsWith("=off")) return true;
            return false;
        } catch (java.io.IOException | RuntimeException e) {
            return true;   // cannot tell: ask NMT itself
        }
    }

    private static final java.util.regex.Pattern NMT_OTHER =
            java.util.regex.Pattern.compile("-\\s+Other \\(reserved=(\\d+)KB, committed=(\\d+)KB\\)");

    /**
     * Committed bytes of the JVM's "Other" native memory, where {@code Arena.allocate} (Unsafe.allocateMemory)
     * is accounted, from Native Memory Tracking; -1 unless the JVM runs with
     * {@code -XX:NativeMemoryTracking=summary} (JVIT_JAVA_OPTS). Arena segments are not counted in the
     * "direct" buffer pool.
     */
    static long nativeBytes() {
        if (!NMT_ON) return -1;   // the platform MBean server alone adds megabytes to the memory being measured
        try {
            javax.management.MBeanServer s = ManagementFactory.getPlatformMBeanServer();
            Object r = s.invoke(new javax.management.ObjectName("com.sun.management:type=DiagnosticCommand"), "vmNativeMemory",
                    new Object[] {new String[] {"summary", "scale=KB"}}, new String[] {String[].class.getName()});
            java.util.regex.Matcher m = NMT_OTHER.matcher(String.valueOf(r));
            return m.find() ? Long.parseLong(m.group(2)) * 1024 : -1;
        } catch (Exception | LinkageError e) {
            return -1;
        }
    }

    /** Native memory by NMT when on, else the process's anonymous resident memory (which includes the Java heap). */
    static long offHeapOrAnon() {
        long n = nativeBytes();
        return n >= 0 ? n : procStatus().getOrDefault("RssAnon", -1L);
    }

    static boolean nmtOn() { return nativeBytes() >= 0; }

    /**
     * Heap bytes allocated so far by the current thread and the threads whose names start with one of
     * the prefixes (found once, before the first reading, so that finding them is not counted).
     */
    static final class Allocation {
        private final com.sun.management.ThreadMXBean bean;
        private final long[] ids;
        private final long overhead;

        Allocation(String... threadPrefixes) {
            java.lang.management.ThreadMXBean tb = ManagementFactory.getThreadMXBean();
            bean = tb instanceof com.sun.management.ThreadMXBean s ? s : null;
            java.util.List<Long> l = new java.util.ArrayList<>();
            l.add(Thread.currentThread().threadId());
            for (Thread t : Thread.getAllStackTraces().keySet())
                for (String p : threadPrefixes)
                    if (t != Thread.currentThread() && t.getName().startsWith(p)) l.add(t.threadId());
            ids = l.stream().mapToLong(Long::longValue).toArray();
            long a = read();
            overhead = read() - a;     // what one reading itself allocates (its result array)
        }

        long read() {
            if (bean == null) return -1;
            long total = 0;
            for (long b : bean.getThreadAllocatedBytes(ids)) if (b > 0) total += b;
            return total;
        }

        /** Bytes allocated per call of {@code r}, over {@code n} calls. */
        long perCall(Runnable r, int n) {
            if (bean == null) return -1;
            long a = read();
            for (int i = 0; i < n; i++) r.run();
            return Math.max(0, read() - a - overhead) / n;
        }
    }

    static String mb(long bytes) { return String.format("%.1f MB", bytes / 1e6); }
}
