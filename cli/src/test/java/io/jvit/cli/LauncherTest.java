package io.jvit.cli;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.*;

/** The ./jvit launcher without a JDK 25: one line saying what is needed, exit code 3. */
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
}
