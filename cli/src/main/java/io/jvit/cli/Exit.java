package io.jvit.cli;

/** Exit codes, as documented in the README. */
public final class Exit {
    private Exit() {}

    /** Everything worked. */
    public static final int OK = 0;
    /** Some inputs failed (an unreadable image); the others were processed. */
    public static final int SOME_INPUTS_FAILED = 1;
    /** Bad command line: unknown option, bad value, missing argument. */
    public static final int USAGE = 2;
    /** The model could not be loaded, or the environment is unusable (no JDK 25, failed build). */
    public static final int MODEL = 3;
    /** Input or output unusable as a whole: no images found, output file exists, write failed. */
    public static final int IO = 4;
    /** A bug: an unexpected internal error (the message says what; please report it). */
    public static final int INTERNAL = 70;
}
