package io.jvit.cli;

import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Stream;

/** Expands command-line paths into image files: files as given, folders recursively, globs (quoted ones too). */
public final class Inputs {
    static final Set<String> IMAGE_EXTENSIONS = Set.of("png", "jpg", "jpeg", "bmp", "gif", "webp", "tif", "tiff");

    private Inputs() {}

    /** A path the user named that could not be expanded: reported per path, the others still run. */
    public record Missing(String path, String reason) {}

    public record Expanded(List<Path> files, List<Missing> missing) {}

    public static Expanded expand(List<String> args) {
        List<Path> out = new ArrayList<>();
        List<Missing> missing = new ArrayList<>();
        for (String a : args) {
            if (a.indexOf('*') >= 0 || a.indexOf('?') >= 0 || a.indexOf('[') >= 0) {
                List<Path> g = glob(a);
                if (g.isEmpty()) missing.add(new Missing(a, "no file matches"));
                out.addAll(g);
                continue;
            }
            Path p = Path.of(a);
            if (Files.isDirectory(p)) {
                try (Stream<Path> s = Files.walk(p)) {
                    List<Path> found = s.filter(Files::isRegularFile).filter(Inputs::isImageName).sorted().toList();
                    if (found.isEmpty()) missing.add(new Missing(a, "folder holds no images (" + String.join(", ", sortedExtensions()) + ")"));
                    out.addAll(found);
                } catch (IOException e) {
                    missing.add(new Missing(a, "cannot list folder: " + e.getMessage()));
                }
            } else if (Files.exists(p)) {
                out.add(p);
            } else {
                missing.add(new Missing(a, "no such file or folder"));
            }
        }
        return new Expanded(out, missing);
    }

    /**
     * The files to run, after naming each path that gave none on stderr (the others still run). When no path gave
     * any file, one error line (exit 4) that says why instead: the one path's reason, or every path's.
     */
    public static List<Path> filesOrFail(Expanded in, String verb, java.io.PrintStream err) {
        List<Missing> missing = in.missing();
        if (in.files().isEmpty()) {
            if (missing.size() == 1) throw new CliException(Exit.IO, missing.get(0).path() + ": " + missing.get(0).reason());
            StringBuilder why = new StringBuilder("no images to ").append(verb);
            for (int i = 0; i < missing.size(); i++)
                why.append(i == 0 ? ": " : "; ").append(missing.get(i).path()).append(" (").append(missing.get(i).reason()).append(')');
            throw new CliException(Exit.IO, why.toString());
        }
        for (Missing m : missing) err.println("jvit: " + m.path() + ": " + m.reason());
        return in.files();
    }

    private static List<String> sortedExtensions() {
        return IMAGE_EXTENSIONS.stream().sorted().toList();
    }

    static boolean isImageName(Path p) {
        return io.jvit.loader.image.ImageLoader.hasImageExtension(p);
    }

    /** A glob relative to its longest wildcard-free leading folder; '**' crosses folders. */
    static List<Path> glob(String pattern) {
        String norm = pattern.replace('\\', '/');
        int firstWild = Math.min(idx(norm, '*'), Math.min(idx(norm, '?'), idx(norm, '[')));
        int slash = norm.lastIndexOf('/', firstWild);
        Path base = slash < 0 ? Path.of(".") : Path.of(slash == 0 ? "/" : norm.substring(0, slash));
        String rest = slash < 0 ? norm : norm.substring(slash + 1);
        PathMatcher m = FileSystems.getDefault().getPathMatcher("glob:" + rest);
        if (!Files.isDirectory(base)) return List.of();
        try (Stream<Path> s = Files.walk(base)) {
            return s.filter(Files::isRegularFile).filter(p -> m.matches(base.relativize(p))).sorted()
                    .map(p -> slash < 0 ? base.relativize(p) : p).toList();
        } catch (IOException e) {
            return List.of();
        }
    }

    private static int idx(String s, char c) {
        int i = s.indexOf(c);
        return i < 0 ? Integer.MAX_VALUE : i;
    }
}
