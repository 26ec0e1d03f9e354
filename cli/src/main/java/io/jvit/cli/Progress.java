package io.jvit.cli;

/** A one-line progress bar on stderr, drawn only when stderr is a terminal and the job is large. */
final class Progress {
    private static final int MIN_ITEMS = 32;
    private final int total;
    private final boolean enabled;
    private final long start = System.nanoTime();
    private boolean drawn;

    Progress(int total) {
        this.total = total;
        this.enabled = total >= MIN_ITEMS && "1".equals(System.getenv("JVIT_STDERR_TTY"));
    }

    void update(int done) {
        if (!enabled) return;
        int width = 30, filled = (int) ((long) width * done / total);
        double secs = (System.nanoTime() - start) / 1e9;
        System.err.printf("\r[%s%s] %d/%d images  %.1f img/s ", "#".repeat(filled), " ".repeat(width - filled), done, total,
                secs > 0 ? done / secs : 0);
        System.err.flush();
        drawn = true;
    }

    void clear() {
        if (drawn) {
            System.err.print("\r\033[K");
            System.err.flush();
            drawn = false;
        }
    }
}
