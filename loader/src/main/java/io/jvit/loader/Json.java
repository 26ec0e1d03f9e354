package io.jvit.loader;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A strict JSON (RFC 8259) reader for the small documents a model comes with: safetensors headers,
 * config.json, preprocessor_config.json, metadata. It builds Jackson's tree nodes, the same types
 * {@code ObjectMapper.readTree} gives (int, long or big integer nodes for integers, double nodes for the
 * rest), so callers read it as before, but it leaves out ObjectMapper's machinery: that machinery loaded
 * ~400 classes and cost 300-390 ms and 12-13 MB of resident memory in a cold JVM before the first tensor
 * was mapped (docs/BENCHMARKS.md, tenth round).
 * <p>
 * Stricter than ObjectMapper's defaults where the safetensors format is: a duplicate key and anything but
 * whitespace after the value are errors. Nesting deeper than {@value #MAX_DEPTH} is refused.
 */
public final class Json {
    static final int MAX_DEPTH = 1000;
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
    private static final BigInteger LONG_MIN = BigInteger.valueOf(Long.MIN_VALUE), LONG_MAX = BigInteger.valueOf(Long.MAX_VALUE);

    /** Malformed JSON: the message says what and where (line and column, from 1). */
    public static final class SyntaxException extends IOException {
        SyntaxException(String message) { super(message); }
    }

    private final String s;
    private int i;

    private Json(String s) { this.s = s; }

    /** The value of a whole document. */
    public static JsonNode parse(String text) throws SyntaxException {
        Json p = new Json(text);
        p.space();
        JsonNode v = p.value(0);
        p.space();
        if (p.i < text.length()) throw p.error("unexpected '" + text.charAt(p.i) + "' after the value");
        return v;
    }

    /** A UTF-8 file's value. */
    public static JsonNode read(Path file) throws IOException {
        byte[] b = Files.readAllBytes(file);
        String text = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(java.nio.charset.CodingErrorAction.REPORT)
                .onUnmappableCharacter(java.nio.charset.CodingErrorAction.REPORT)
                .decode(java.nio.ByteBuffer.wrap(b)).toString();
        if (text.startsWith("\uFEFF")) text = text.substring(1);   // a byte order mark, as some editors write
        return parse(text);
    }

    private JsonNode value(int depth) throws SyntaxException {
        if (i >= s.length()) throw error("unexpected end of input");
        char c = s.charAt(i);
        switch (c) {
            case '{': return object(depth + 1);
            case '[': return array(depth + 1);
            case '"': return NODES.textNode(string());
            case 't': word("true"); return NODES.booleanNode(true);
            case 'f': word("false"); return NODES.booleanNode(false);
            case 'n': word("null"); return NODES.nullNode();
            default:
                if (c == '-' || (c >= '0' && c <= '9')) return number();
                throw error("unexpected '" + c + "'");
        }
    }

    private ObjectNode object(int depth) throws SyntaxException {
        ObjectNode o = NODES.objectNode();
        if (opens(depth, '}')) return o;
        while (true) {
            if (peek() != '"') throw error("expected a field name in double quotes");
            int at = i;
            String key = string();
            space();
            expect(':');
            space();
            if (o.replace(key, value(depth)) != null) {
                i = at;
                throw error("duplicate field '" + key + "'");
            }
            if (closes('}')) return o;
        }
    }

    private ArrayNode array(int depth) throws SyntaxException {
        ArrayNode a = NODES.arrayNode();
        if (opens(depth, ']')) return a;
        while (true) {
            a.add(value(depth));
            if (closes(']')) return a;
        }
    }

    /** Past an opening bracket and the space after it: true past the closing one too when nothing is inside. */
    private boolean opens(int depth, char close) throws SyntaxException {
        if (depth > MAX_DEPTH) throw error("nesting deeper than " + MAX_DEPTH);
        i++;
        space();
        if (peek() != close) return false;
        i++;
        return true;
    }

    /** After a member: true past the closing bracket, false past a comma (and the space after it). */
    private boolean closes(char close) throws SyntaxException {
        space();
        char c = peek();
        if (c != close && c != ',') throw error("expected ',' or '" + close + "'");
        i++;
        if (c == close) return true;
        space();
        return false;
    }

    private String string() throws SyntaxException {
        i++;   // the opening quote
        StringBuilder b = null;
        int start = i;
        while (true) {
            if (i >= s.length()) throw error("unterminated string");
            char c = s.charAt(i);
            if (c == '"') {
                String tail = s.substring(start, i++);
                return b == null ? tail : b.append(tail).toString();
            }
            if (c < 0x20) throw error("control character " + (int) c + " in a string (escape it)");
            if (c != '\\') {
                i++;
                continue;
            }
            if (b == null) b = new StringBuilder();
            b.append(s, start, i);
            if (++i >= s.length()) throw error("unterminated string");
            char e = s.charAt(i++);
            switch (e) {
                case '"', '\\', '/' -> b.append(e);
                case 'b' -> b.append('\b');
                case 'f' -> b.append('\f');
                case 'n' -> b.append('\n');
                case 'r' -> b.append('\r');
                case 't' -> b.append('\t');
                case 'u' -> {
                    if (i + 4 > s.length()) throw error("unterminated \\u escape");
                    int u = 0;
                    for (int k = 0; k < 4; k++) {
                        int d = Character.digit(s.charAt(i + k), 16);
                        if (d < 0) throw error("bad \\u escape");
                        u = u * 16 + d;
                    }
                    i += 4;
                    b.append((char) u);
                }
                default -> {
                    i--;
                    throw error("bad escape '\\" + e + "'");
                }
            }
            start = i;
        }
    }

    private JsonNode number() throws SyntaxException {
        int start = i;
        if (peek() == '-') i++;
        if (peek() == '0') i++;
        else if (digits() == 0) throw error("expected a digit");
        boolean integral = true;
        if (peek() == '.') {
            i++;
            integral = false;
            if (digits() == 0) throw error("expected a digit after '.'");
        }
        if (peek() == 'e' || peek() == 'E') {
            i++;
            integral = false;
            if (peek() == '+' || peek() == '-') i++;
            if (digits() == 0) throw error("expected a digit in the exponent");
        }
        String t = s.substring(start, i);
        if (!integral) return NODES.numberNode(Double.parseDouble(t));
        if (t.length() <= 18) {
            long v = Long.parseLong(t);
            return v == (int) v ? NODES.numberNode((int) v) : NODES.numberNode(v);
        }
        BigInteger v = new BigInteger(t);
        return v.compareTo(LONG_MIN) >= 0 && v.compareTo(LONG_MAX) <= 0 ? NODES.numberNode(v.longValue()) : NODES.numberNode(v);
    }

    private int digits() {
        int n = 0;
        while (i < s.length() && s.charAt(i) >= '0' && s.charAt(i) <= '9') {
            i++;
            n++;
        }
        return n;
    }

    private void word(String w) throws SyntaxException {
        if (!s.startsWith(w, i)) throw error("unexpected '" + s.charAt(i) + "'");
        i += w.length();
    }

    private void expect(char c) throws SyntaxException {
        if (peek() != c) throw error("expected '" + c + "'");
        i++;
    }

    private char peek() { return i < s.length() ? s.charAt(i) : '\0'; }

    private void space() {
        while (i < s.length()) {
            char c = s.charAt(i);
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
            i++;
        }
    }

    private SyntaxException error(String what) {
        int line = 1, col = 1;
        for (int k = 0; k < Math.min(i, s.length()); k++) {
            if (s.charAt(k) == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        return new SyntaxException(what + " at line " + line + ", column " + col);
    }
}
