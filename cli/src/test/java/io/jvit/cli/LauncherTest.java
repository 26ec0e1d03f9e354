package io.jvit.cli;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The ./jvit launcher's JDK search: one line saying what is needed without a JDK 25, exit code 3. */
class LauncherTest {
    @Test
    void saysWhatIsNeededWithoutASuitableJdk() throws Exception {
        ProcessBuilder pb = new ProcessBuilder("bash", CliTest.root().resolve("jvit").toString(), "--version");
        pb.environment().put("JVIT_JDK_DIRS", "/nonexistent-jdk-folder");
        pb.environment().put("JAVA_HOME", "/nonexistent-java-home");
        pb.environment().remove("JVIT_JAVA_HOME");
        pb.redirectErrorStream(true);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(3, p.waitFor());
        assertEquals(1, out.lines().count(), out);
        assertTrue(out.contains("JDK 25"), out);
    }

    /**
     * A JDK's version is read from its release file, without starting its java (here a script that records
     * being run): a JDK 17 is passed over for a JDK 25 listed after it, and an unreadable release file falls
     * back to asking java itself.
     */
    @Test
    void readsTheJdkVersionFromItsReleaseFile() throws Exception {
        Path dir = Files.createTempDirectory("jvit-jdks");
        Path ran = dir.resolve("ran");
        for (String[] jdk : new String[][] {{"a-jdk17", "JAVA_VERSION=\"17.0.15\""}, {"b-jdk25", "JAVA_VERSION=\"25.0.3\""},
                {"c-odd", "NO_VERSION_HERE=1"}}) {
            Path bin = Files.createDirectories(dir.resolve(jdk[0]).resolve("bin"));
            Files.writeString(dir.resolve(jdk[0]).resolve("release"), jdk[1] + "\n");
            for (String tool : new String[] {"java", "javac"}) {
                Path f = bin.resolve(tool);
                // asked for its settings, this java says 26; it also records that it ran
                Files.writeString(f, "#!/bin/sh\necho " + jdk[0] + " >> " + ran + "\necho '    java.specification.version = 26' >&2\n");
                f.toFile().setExecutable(true);
            }
        }
        String find = ". " + CliTest.root().resolve("tools/jdk.sh") + "; jvit_find_jdk && echo \"$JAVA_HOME\" && jvit_java_major " + dir.resolve("c-odd/bin/java");
        ProcessBuilder pb = new ProcessBuilder("bash", "-c", find);
        pb.environment().put("JVIT_JDK_DIRS", dir + "/*");
        pb.environment().remove("JAVA_HOME");
        pb.environment().remove("JVIT_JAVA_HOME");
        pb.redirectErrorStream(true);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        assertEquals(List.of(dir.resolve("b-jdk25").toString(), "26"), out.lines().toList(), out);
        assertEquals("c-odd", Files.readString(ran).strip(), "only the JDK without a version in its release file was started");
    }
}
