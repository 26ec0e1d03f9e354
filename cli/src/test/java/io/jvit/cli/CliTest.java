package io.jvit.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The CLI as a user meets it: output, exit codes, one-line errors. */
class CliTest {
    @TempDir
    Path tmp;

    record Run(int code, String out, String err) {}

    static Path root() {
        String prop = System.getProperty("jvit.root");
        if (prop != null) return Path.of(prop);
        Path p = Path.of("").toAbsolutePath();
        while (p != null && !Files.isDirectory(p.resolve("samples"))) p = p.getParent();
        return p;
    }

    static synchronized Run run(String... args) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        StringWriter perr = new StringWriter();
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            var cl = Main.commandLine(new Main());
            cl.setErr(new PrintWriter(perr, true));
            int code = cl.execute(args);
            return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8) + perr);
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    private static String model() { return root().resolve("models/fashion-vit").toString(); }

    @Test
    void classifiesEverySampleAsItsClass() throws Exception {
        Run r = run("classify", "--model", model(), "--json", "--top", "3", root().resolve("samples").toString());
        assertEquals(0, r.code(), r.err());
        List<String> lines = r.out().lines().toList();
        assertEquals(10, lines.size(), r.out());
        ObjectMapper json = new ObjectMapper();
        for (String line : lines) {
            JsonNode n = json.readTree(line);
            String file = Path.of(n.get("file").asText()).getFileName().toString();
            int truth = Integer.parseInt(file.substring(0, file.indexOf('-')));
            assertEquals(3, n.get("top").size());
            assertEquals(truth, n.get("top").get(0).get("index").asInt(), "sample " + file + ": " + line);
            double s = 0;
            for (JsonNode t : n.get("top")) s += t.get("score").asDouble();
            assertTrue(s > 0 && s <= 1.0001);
        }
    }

    @Test
    void textOutputHasLabels() {
        Run r = run("classify", "--model", model(), root().resolve("samples/1-trouser.png").toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("Trouser (1)"), r.out());
        assertEquals(6, r.out().lines().count());
    }

    @Test
    void unreadableImageIsReportedAndOthersStillRun() throws Exception {
        Path bad = Files.writeString(tmp.resolve("broken.png"), "this is not a png");
        Run r = run("classify", "--model", model(), "--json", bad.toString(), root().resolve("samples/8-bag.png").toString());
        assertEquals(Exit.SOME_INPUTS_FAILED, r.code());
        assertEquals(1, r.out().lines().count(), r.out());
        List<String> errs = r.err().lines().filter(l -> !l.isBlank()).toList();
        assertEquals(1, errs.size(), r.err());
        assertTrue(errs.get(0).startsWith("jvit: ") && errs.get(0).contains("broken.png"), r.err());
    }

    /** Images decode on several threads, a batch ahead: results and failures still come in the files' order. */
    @Test
    void batchesKeepTheFilesOrderAndReportEachFailure() throws Exception {
        Path bad1 = Files.writeString(tmp.resolve("bad1.png"), "not a png"), bad2 = Files.writeString(tmp.resolve("bad2.jpg"), "");
        Path s = root().resolve("samples");
        String[] order = {s.resolve("3-dress.png").toString(), bad1.toString(), s.resolve("0-tshirt-top.png").toString(),
                s.resolve("9-ankle-boot.png").toString(), bad2.toString(), s.resolve("5-sandal.png").toString(), s.resolve("1-trouser.png").toString()};
        List<String> args = new java.util.ArrayList<>(List.of("classify", "--model", model(), "--json", "--top", "1", "--batch", "3"));
        args.addAll(List.of(order));
        Run r = run(args.toArray(new String[0]));
        assertEquals(Exit.SOME_INPUTS_FAILED, r.code(), r.err());
        ObjectMapper json = new ObjectMapper();
        List<String> files = new java.util.ArrayList<>();
        for (String line : r.out().lines().toList()) files.add(Path.of(json.readTree(line).get("file").asText()).getFileName().toString());
        assertEquals(List.of("3-dress.png", "0-tshirt-top.png", "9-ankle-boot.png", "5-sandal.png", "1-trouser.png"), files);
        List<String> errs = r.err().lines().filter(l -> !l.isBlank()).toList();
        assertEquals(2, errs.size(), r.err());
        assertTrue(errs.get(0).contains("bad1.png") && errs.get(1).contains("bad2.jpg"), r.err());
        Run t1 = run("classify", "--model", model(), "--threads", "1", "--batch", "2", s.toString());
        assertEquals(0, t1.code(), t1.err());
        assertEquals(60, t1.out().lines().count(), "10 images x (name + 5 classes)");
    }

    @Test
    void badModelIsOneLineExitThree() throws Exception {
        Path junk = Files.writeString(tmp.resolve("junk.safetensors"), "garbage garbage garbage");
        Run r = run("classify", "--model", junk.toString(), root().resolve("samples/8-bag.png").toString());
        assertEquals(Exit.MODEL, r.code());
        assertEquals(1, r.err().lines().filter(l -> !l.isBlank()).count(), r.err());
        assertFalse(r.err().contains("Exception"), r.err());
        Run missing = run("info", tmp.resolve("nothing-here").toString());
        assertEquals(Exit.MODEL, missing.code());
    }

    @Test
    void badOptionsAreUsageErrors() {
        assertEquals(Exit.USAGE, run("classify", "--top", "0", "samples").code());
        assertEquals(Exit.USAGE, run("classify", "--threads", "0", "--model", model(), "x.png").code());
        assertEquals(Exit.USAGE, run("classify", "--batch", "-1", "x.png").code());
        assertEquals(Exit.USAGE, run("classify", "--frobnicate").code());
        assertEquals(Exit.USAGE, run("nosuchcommand").code());
        assertEquals(Exit.USAGE, run().code());
        // picocli's own errors too: one line, its help hint on it
        for (String[] args : new String[][] {{"classify", "--frobnicate"}, {"nosuchcommand"}, {}, {"embed", "--pool", "max", "x.png"},
                {"classify", "--threads", "abc", "x.png"}}) {
            Run r = run(args);
            assertEquals(1, r.err().strip().lines().count(), String.join(" ", args) + ": " + r.err());
            assertTrue(r.err().startsWith("jvit: ") && r.err().strip().endsWith("--help')"), r.err());
        }
    }

    @Test
    void noImagesFound() throws Exception {
        Path empty = Files.createDirectory(tmp.resolve("empty"));
        Run r = run("classify", "--model", model(), empty.toString());
        assertEquals(Exit.IO, r.code());
        assertTrue(r.err().contains("no images"), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
    }

    @Test
    void missingImagesAreOneLineWhenNothingIsLeft() {
        String gone = tmp.resolve("gone.png").toString(), lost = tmp.resolve("lost.jpg").toString();
        Run one = run("classify", "--model", model(), gone);
        assertEquals(Exit.IO, one.code());
        assertEquals("jvit: " + gone + ": no such file or folder", one.err().strip());
        Run two = run("embed", "--model", model(), gone, lost);
        assertEquals(Exit.IO, two.code());
        assertEquals(1, two.err().strip().lines().count(), two.err());
        assertTrue(two.err().startsWith("jvit: no images to embed: " + gone + " (no such file or folder); " + lost), two.err());
        Run some = run("classify", "--model", model(), gone, root().resolve("samples/8-bag.png").toString());
        assertEquals(Exit.SOME_INPUTS_FAILED, some.code());
        assertEquals("jvit: " + gone + ": no such file or folder", some.err().strip());
        assertTrue(some.out().contains("Bag"), some.out());
    }

    @Test
    void globsExpand() {
        Run r = run("classify", "--model", model(), "--json", root().resolve("samples").toString() + "/[0-2]-*.png");
        assertEquals(0, r.code(), r.err());
        assertEquals(3, r.out().lines().count());
    }

    @Test
    void infoDescribesTheModel() {
        Run r = run("info", model());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("huggingface"), r.out());
        assertTrue(r.out().contains("T-shirt/top"), r.out());
        assertTrue(r.out().contains("gflops_per_image"), r.out());
    }
}
