package io.jvit.loader;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;

/**
 * Writes a safetensors file: 8-byte little-endian header length, the JSON header (padded with spaces
 * to a multiple of 8 bytes so that the data starts aligned), then the tensors back to back in the
 * order given.
 * <p>
 * The file appears whole or not at all: it is written to a temporary file in the target's folder,
 * forced to disk, then renamed onto the target (hard-linked when the target must not be replaced, so
 * that a file created meanwhile is not clobbered either). On any failure the temporary file is
 * deleted and the target is untouched.
 */
public final class SafetensorsWriter {
    /** One tensor to write: {@code data} holds exactly shape x dtype-size little-endian bytes. */
    public record Entry(String name, DType dtype, long[] shape, MemorySegment data) {
        public Entry {
            long n = 1;
            for (long d : shape) n = Math.multiplyExact(n, d);
            if (n * dtype.size != data.byteSize())
                throw new IllegalArgumentException("tensor '" + name + "': " + dtype + " " + java.util.Arrays.toString(shape)
                        + " needs " + n * dtype.size + " bytes, got " + data.byteSize());
        }
    }

    /**
     * Test hook: when set (system property {@code jvit.test.failWriteAfterBytes}), writing fails with an
     * IOException once that many data bytes have been written, to check that no partial file is left.
     */
    static final String FAIL_AFTER_PROPERTY = "jvit.test.failWriteAfterBytes";

    private static final ObjectMapper JSON = new ObjectMapper();

    private SafetensorsWriter() {}

    /**
     * Writes {@code tensors} and {@code metadata} to {@code out}.
     *
     * @param overwrite replace an existing {@code out}; otherwise an existing file is refused with
     *                  {@link FileAlreadyExistsException}
     */
    public static void write(Path out, List<Entry> tensors, Map<String, String> metadata, boolean overwrite) throws IOException {
        Path target = out.toAbsolutePath();
        Path dir = target.getParent();
        if (!overwrite && Files.exists(target, java.nio.file.LinkOption.NOFOLLOW_LINKS))
            throw new FileAlreadyExistsException(out + ": exists (use --force to replace it)");
        if (Files.isDirectory(target)) throw new IOException(out + ": is a directory");
        if (dir == null || !Files.isDirectory(dir)) throw new IOException(out + ": folder " + dir + " does not exist");
        byte[] header = header(tensors, metadata);
        Path tmp = Files.createTempFile(dir, "." + target.getFileName() + ".", ".tmp");
        boolean done = false;
        try {
            try {   // createTempFile makes it owner-only; a model file is as readable as any other
                Files.setPosixFilePermissions(tmp, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
            } catch (UnsupportedOperationException e) {
                // not a POSIX file system: keep its defaults
            }
            long failAfter = Long.getLong(FAIL_AFTER_PROPERTY, -1L);
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length).flip();
                writeFully(ch, len);
                writeFully(ch, ByteBuffer.wrap(header));
                long written = 0;
                for (Entry e : tensors) {
                    // MemorySegment.asByteBuffer works for heap and off-heap segments alike; big tensors go in 16 MiB slices
                    long size = e.data().byteSize();
                    for (long off = 0; off < size; off += 1 << 24) {
                        long n = Math.min(1 << 24, size - off);
                        if (failAfter >= 0 && written + n > failAfter)
                            throw new IOException("simulated write failure after " + failAfter + " bytes (" + FAIL_AFTER_PROPERTY + ")");
                        writeFully(ch, e.data().asSlice(off, n).asByteBuffer());
                        written += n;
                    }
                }
                ch.force(true);
            }
            if (overwrite) {
                try {
                    Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                } catch (AtomicMoveNotSupportedException e) {
                    Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
                }
            } else {
                try {
                    Files.createLink(target, tmp);      // atomic, and fails if the target appeared meanwhile
                    Files.delete(tmp);
                } catch (FileAlreadyExistsException e) {
                    throw new FileAlreadyExistsException(out + ": exists (use --force to replace it)");
                } catch (UnsupportedOperationException | IOException e) {
                    if (Files.exists(target)) throw new FileAlreadyExistsException(out + ": exists (use --force to replace it)");
                    Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
                }
            }
            done = true;
        } finally {
            if (!done) Files.deleteIfExists(tmp);
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) ch.write(b);
    }

    static byte[] header(List<Entry> tensors, Map<String, String> metadata) {
        ObjectNode root = JSON.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode m = root.putObject("__metadata__");
            metadata.forEach(m::put);
        }
        long off = 0;
        for (Entry e : tensors) {
            if (root.has(e.name()) || e.name().equals("__metadata__"))
                throw new IllegalArgumentException("duplicate or reserved tensor name '" + e.name() + "'");
            ObjectNode t = root.putObject(e.name());
            t.put("dtype", e.dtype().name());
            ArrayNode s = t.putArray("shape");
            for (long d : e.shape()) s.add(d);
            ArrayNode o = t.putArray("data_offsets");
            o.add(off);
            off += e.data().byteSize();
            o.add(off);
        }
        byte[] json = root.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        byte[] h = java.util.Arrays.copyOf(json, padded);
        java.util.Arrays.fill(h, json.length, padded, (byte) ' ');
        return h;
    }
}
