package io.jvit.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.PrintWriter;

@Command(name = "jvit", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Pure-Java Vision Transformer inference on the CPU.",
        subcommands = {ClassifyCommand.class, InfoCommand.class, EmbedCommand.class, QuantizeCommand.class, CommandLine.HelpCommand.class},
        footer = {"", "Also: 'jvit bench --help' (latency and throughput, optionally against ONNX Runtime).",
                "Exit codes: 0 ok, 1 some inputs failed, 2 bad command line, 3 model could not be loaded, 4 no usable input/output."})
public final class Main implements Runnable {
    static final class Version implements CommandLine.IVersionProvider {
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[] {"jvit " + (v == null ? "dev" : v) + " (Java " + Runtime.version() + ", "
                    + io.jvit.engine.VectorMath.LANES * 32 + "-bit vectors)"};
        }
    }

    @Override
    public void run() {
        throw new CommandLine.ParameterException(new CommandLine(this), "a command is needed: classify, info, embed, quantize, bench");
    }

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Builds the command line with jvit's error handling: one line per error, documented exit codes. */
    public static CommandLine commandLine(Object root) {
        CommandLine cl = new CommandLine(root);
        cl.setExecutionExceptionHandler((ex, line, parse) -> {
            PrintWriter err = line.getErr();
            if (ex instanceof CliException ce) {
                err.println("jvit: " + ce.getMessage());
                return ce.exitCode();
            }
            String msg = ex.getMessage() == null ? ex.getClass().getSimpleName() : ex.getMessage().lines().findFirst().orElse("");
            err.println("jvit: " + (ex instanceof java.io.IOException || ex instanceof IllegalArgumentException
                    ? msg : "internal error: " + ex.getClass().getSimpleName() + ": " + msg));
            if (System.getenv("JVIT_DEBUG") != null) ex.printStackTrace(err);
            return ex instanceof java.io.IOException ? Exit.IO : ex instanceof IllegalArgumentException ? Exit.USAGE : Exit.INTERNAL;
        });
        cl.setParameterExceptionHandler((ex, args) -> {
            CommandLine c = ex.getCommandLine();
            // one line, the hint included: scripts and people read the first line of stderr
            c.getErr().println("jvit: " + ex.getMessage().lines().findFirst().orElse("").strip() + " (see '"
                    + c.getCommandSpec().qualifiedName() + " --help')");
            return Exit.USAGE;
        });
        return cl;
    }

    public static int run(String... args) {
        try {
            return commandLine(new Main()).execute(args);
        } catch (OutOfMemoryError e) {
            System.err.println("jvit: out of memory (raise it with JVIT_JAVA_OPTS=-Xmx8g, or use a smaller --batch)");
            return Exit.INTERNAL;
        }
    }
}
