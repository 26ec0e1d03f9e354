package io.jvit.loader;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A safetensors file, memory-mapped: an 8-byte little-endian header length N, N bytes of JSON
 * ({name: {dtype, shape, data_offsets}}, plus an optional "__metadata__" string map), then the data.
 * Validated as strictly as the format's reference implementation: header at most 100,000,000
 * bytes, offsets contiguous from 0 with no gap or overlap and ending exactly at the end of the
 * file, shape x dtype size equal to the byte length, all arithmetic overflow-checked.
 * Tensors are slices of the mapping: nothing is copied.
 */
public final class SafetensorsFile {
    public static final long MAX_HEADER = 100_000_000L;

    private final Path path;
    private final Map<String, Tensor> tensors;
    private final Map<String, String> metadata;

    private SafetensorsFile(Path path, Map<String, Tensor> tensors, Map<String, String> metadata) {
        this.path = path;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    public Path path() { return path; }

    /** Tensors in file order. */
    public Map<String, Tensor> tensors() { return tensors; }

    public Map<String, String> metadata() { return metadata; }

    public Tensor get(String name) { return tensors.get(name); }

    /** Maps and validates {@code path}; the mapping lives as long as {@code arena}. */
    public static SafetensorsFile open(Path path, Arena arena) throws ModelFormatException {
        String f = path.toString();
        MemorySegment file;
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) throw new ModelFormatException(f + ": not a safetensors file (" + size + " bytes, shorter than the 8-byte header length)");
            file = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
        } catch (NoSuchFileException e) {
            throw new ModelFormatException(f + ": no such file");
        } catch (ModelFormatException e) {
            throw e;
        } catch (IOException e) {
            throw new ModelFormatException(f + ": cannot read: " + e.getMessage());
        }
        long size = file.byteSize();
        long n = file.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (n < 0 || n > MAX_HEADER)
            throw new ModelFormatException(f + ": header length " + Long.toUnsignedString(n) + " exceeds the limit of " + MAX_HEADER + " bytes");
        if (n > size - 8)
            throw new ModelFormatException(f + ": header length " + n + " is longer than the file (" + size + " bytes): truncated or not safetensors");
        if (n < 2) throw new ModelFormatException(f + ": header of " + n + " bytes is not a JSON object");
        byte[] hb = file.asSlice(8, n).toArray(ValueLayout.JAVA_BYTE);
        String header;
        try {
            header = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(java.nio.ByteBuffer.wrap(hb)).toString();
        } catch (CharacterCodingException e) {
            throw new ModelFormatException(f + ": header is not valid UTF-8");
        }
        if (!header.startsWith("{"))
            throw new ModelFormatException(f + ": header does not start with '{': not a safetensors file");
        JsonNode root;
        try {
            root = Json.parse(header);
        } catch (Json.SyntaxException e) {
            throw new ModelFormatException(f + ": header is not valid JSON: " + e.getMessage());
        }
        if (root == null || !root.isObject()) throw new ModelFormatException(f + ": header is not a JSON object");
        long dataStart = 8 + n;
        long dataLen = size - dataStart;

        Map<String, String> metadata = new LinkedHashMap<>();
        record Entry(String name, DType dtype, long[] shape, long begin, long end) {}
        List<Entry> entries = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String name = e.getKey();
            JsonNode v = e.getValue();
            if (name.equals("__metadata__")) {
                if (!v.isObject()) throw new ModelFormatException(f + ": __metadata__ is not an object of strings");
                for (Iterator<Map.Entry<String, JsonNode>> m = v.fields(); m.hasNext(); ) {
                    Map.Entry<String, JsonNode> kv = m.next();
                    if (!kv.getValue().isTextual())
                        throw new ModelFormatException(f + ": __metadata__ value '" + kv.getKey() + "' is not a string");
                    metadata.put(kv.getKey(), kv.getValue().asText());
                }
                continue;
            }
            String where = f + ": tensor '" + name + "'";
            if (!v.isObject()) throw new ModelFormatException(where + ": entry is not an object");
            for (Iterator<String> k = v.fieldNames(); k.hasNext(); ) {
                String key = k.next();
                if (!key.equals("dtype") && !key.equals("shape") && !key.equals("data_offsets"))
                    throw new ModelFormatException(where + ": unknown field '" + key + "'");
            }
            JsonNode dt = v.get("dtype"), sh = v.get("shape"), off = v.get("data_offsets");
            if (dt == null || !dt.isTextual()) throw new ModelFormatException(where + ": missing or non-string dtype");
            DType dtype = DType.parse(dt.asText());
            if (dtype == null) throw new ModelFormatException(where + ": unknown dtype '" + dt.asText() + "'");
            if (sh == null || !sh.isArray()) throw new ModelFormatException(where + ": missing shape");
            long[] shape = new long[sh.size()];
            long elements = 1;
            try {
                for (int i = 0; i < shape.length; i++) {
                    JsonNode d = sh.get(i);
                    if (!d.isIntegralNumber() || !d.canConvertToLong() || d.asLong() < 0)
                        throw new ModelFormatException(where + ": shape entry " + d + " is not a non-negative integer");
                    shape[i] = d.asLong();
                    elements = Math.multiplyExact(elements, shape[i]);
                }
            } catch (ArithmeticException ex) {
                throw new ModelFormatException(where + ": shape " + sh + " overflows");
            }
            if (off == null || !off.isArray() || off.size() != 2 || !off.get(0).isIntegralNumber() || !off.get(1).isIntegralNumber()
                    || !off.get(0).canConvertToLong() || !off.get(1).canConvertToLong())
                throw new ModelFormatException(where + ": data_offsets must be two integers");
            long begin = off.get(0).asLong(), end = off.get(1).asLong();
            if (begin < 0 || end < begin) throw new ModelFormatException(where + ": invalid data_offsets [" + begin + ", " + end + "]");
            long bytes;
            try {
                bytes = Math.multiplyExact(elements, dtype.size);
            } catch (ArithmeticException ex) {
                throw new ModelFormatException(where + ": byte length overflows");
            }
            if (end - begin != bytes)
                throw new ModelFormatException(where + ": " + dtype + " " + java.util.Arrays.toString(shape) + " needs " + bytes
                        + " bytes but data_offsets [" + begin + ", " + end + "] hold " + (end - begin));
            entries.add(new Entry(name, dtype, shape, begin, end));
        }
        List<Entry> sorted = new ArrayList<>(entries);
        sorted.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        long expected = 0;
        for (Entry e : sorted) {
            if (e.begin != expected)
                throw new ModelFormatException(f + ": tensor '" + e.name + "' starts at " + e.begin + " but the previous tensor ends at "
                        + expected + (e.begin < expected ? " (overlap)" : " (gap)"));
            expected = e.end;
        }
        if (expected != dataLen)
            throw new ModelFormatException(f + ": tensors end at byte " + expected + " of a " + dataLen + "-byte data section"
                    + (expected > dataLen ? " (file truncated" + (sorted.isEmpty() ? ")" : "; last tensor '" + sorted.getLast().name + "')") : " (trailing bytes)"));
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (Entry e : entries)
            tensors.put(e.name, new Tensor(e.name, e.dtype, e.shape, file.asSlice(dataStart + e.begin, e.end - e.begin)));
        return new SafetensorsFile(path, Collections.unmodifiableMap(tensors), Collections.unmodifiableMap(metadata));
    }
}
