package io.jvit.loader;

import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/** Json against Jackson's ObjectMapper, the reader it replaces, on the same documents. */
class JsonTest {
    /** Jackson as strict as Json: duplicate keys and trailing tokens are errors. */
    private static final ObjectMapper JACKSON = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private static final String[] VALID = {
            "{}", "[]", "  {\"a\" : 1 }\n", "0", "-0", "7", "-12", "2147483647", "2147483648", "-2147483648", "-2147483649",
            "9223372036854775807", "-9223372036854775808", "9223372036854775808", "123456789012345678901234567890",
            "1.5", "-0.0", "1e3", "1E-3", "2.5e+10", "6.02214076e23", "1.7976931348623157e308", "4.9e-324",
            "true", "false", "null", "\"\"", "\"plain\"", "\"esc \\\" \\\\ \\/ \\b \\f \\n \\r \\t\"",
            "\"\\u00e9\\u4e2d \\ud83d\\ude00 caf\u00e9 \u4e2d \ud83d\ude00\"", "\"\\u0000\"",
            "{\"a\":[1,2,{\"b\":null}],\"c\":{\"d\":[[],{}]},\"e\":-1.25e-2}",
            "{\"__metadata__\":{\"format\":\"pt\"},\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}    ",
            "[1,\n\t2 ,\r\n 3]",
    };

    private static final String[] INVALID = {
            "", "   ", "{", "}", "[1,]", "[,1]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "{'a':1}", "[1 2]", "01", "-", "1.", ".5", "1e",
            "+1", "NaN", "Infinity", "tru", "nul", "\"abc", "\"a\\x\"", "\"\\u12\"", "\"\\u12g4\"", "\"tab\there\"", "\"nl\nhere\"",
            "{\"a\":1,\"a\":2}", "{} x", "[1] [2]", "{\"a\":1}}", "// comment\n{}", "[1,2", "{\"a\":", "\"\\\"",
    };

    @Test
    void readsWhatJacksonReadsAsTheSameTree() throws IOException {
        for (String doc : VALID) assertEquals(JACKSON.readTree(doc), Json.parse(doc), doc);
    }

    @Test
    void rejectsWhatStrictJacksonRejects() {
        for (String doc : INVALID) {
            Json.SyntaxException e = assertThrows(Json.SyntaxException.class, () -> Json.parse(doc), () -> "accepted: " + doc);
            assertTrue(e.getMessage().contains("line ") && e.getMessage().contains("column "), e.getMessage());
            assertFalse(e.getMessage().contains("\n"), e.getMessage());
            assertThrows(IOException.class, () -> {
                if (JACKSON.readTree(doc) == null || JACKSON.readTree(doc).isMissingNode()) throw new IOException("no value");
            }, () -> "Jackson accepts " + doc);
        }
    }

    @Test
    void everyCommittedJsonFileAndSafetensorsHeader() throws IOException {
        Path root = Fixtures.root();
        List<Path> json = new ArrayList<>(), safetensors = new ArrayList<>();
        for (String dir : new String[] {"fixtures", "models"})
            try (Stream<Path> s = Files.walk(root.resolve(dir))) {
                s.filter(Files::isRegularFile).forEach(p -> {
                    if (p.toString().endsWith(".json")) json.add(p);
                    if (p.toString().endsWith(".safetensors")) safetensors.add(p);
                });
            }
        assertTrue(json.size() >= 10 && safetensors.size() >= 5, json + " " + safetensors);
        for (Path p : json) assertEquals(JACKSON.readTree(p.toFile()), Json.read(p), p.toString());
        for (Path p : safetensors) {
            String header = header(p);
            JsonNode tree = Json.parse(header);
            assertEquals(JACKSON.readTree(header), tree, p.toString());
            assertTrue(tree.size() > 1, p.toString());
        }
    }

    @Test
    void saysWhereTheErrorIs() {
        Json.SyntaxException e = assertThrows(Json.SyntaxException.class, () -> Json.parse("{\n  \"a\": 1,\n  \"b\": tru\n}"));
        assertTrue(e.getMessage().contains("line 3, column 8"), e.getMessage());
        e = assertThrows(Json.SyntaxException.class, () -> Json.parse("{\"a\":1, \"a\":2}"));
        assertTrue(e.getMessage().contains("duplicate field 'a'") && e.getMessage().contains("column 9"), e.getMessage());
    }

    @Test
    void refusesDeepNestingWithoutOverflowingTheStack() throws IOException {
        int ok = Json.MAX_DEPTH;
        assertEquals(JACKSON.readTree("[".repeat(ok) + "]".repeat(ok)), Json.parse("[".repeat(ok) + "]".repeat(ok)));
        Json.SyntaxException e = assertThrows(Json.SyntaxException.class, () -> Json.parse("[".repeat(ok + 1) + "]".repeat(ok + 1)));
        assertTrue(e.getMessage().contains("nesting"), e.getMessage());
        assertThrows(Json.SyntaxException.class, () -> Json.parse("{\"a\":".repeat(100_000)));
    }

    @Test
    void readsFilesAsUtf8AndRejectsBadBytes() throws IOException {
        Path dir = Files.createTempDirectory("json");
        try {
            Path good = dir.resolve("good.json");
            Files.write(good, ("\uFEFF{\"name\":\"caf\u00e9 \ud83d\ude00\"}").getBytes(StandardCharsets.UTF_8));
            assertEquals("caf\u00e9 \ud83d\ude00", Json.read(good).get("name").asText());
            Path bad = dir.resolve("bad.json");
            Files.write(bad, new byte[] {'{', '"', 'a', '"', ':', '"', (byte) 0xff, '"', '}'});
            assertThrows(IOException.class, () -> Json.read(bad));
        } finally {
            try (Stream<Path> s = Files.list(dir)) {
                for (Path p : s.toList()) Files.delete(p);
            }
            Files.delete(dir);
        }
    }

    private static String header(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file)) {
            ByteBuffer n = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(n, 0);
            ByteBuffer h = ByteBuffer.allocate((int) n.getLong(0));
            ch.read(h, 8);
            return new String(h.array(), StandardCharsets.UTF_8);
        }
    }
}
